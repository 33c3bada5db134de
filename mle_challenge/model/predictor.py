"""A registered model, ready to answer: loaded once, predicting API-shaped rows.

Used by the service (one listing or a small batch at a time) and by batch prediction (large
frames). Small requests take the exact fast path of :mod:`mle_challenge.model.fastpath` when the
model is gradient boosting; everything else goes through the model's own ``predict_proba``.
Either way the encoding is the one saved inside the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.model.city import Area, City, edges_of
from mle_challenge.model.decision import decide, describe, unwrap
from mle_challenge.model.fastpath import CompiledBoosting
from mle_challenge.model.features import DeclaredFeatures, input_area, input_categories
from mle_challenge.project import Project, airbnb, saved_project
from mle_challenge.project.request import Request, request_model

# Above this many rows sklearn's compiled loop over rows beats the level-by-level walk
# (measured on the NYC model: 0.9 ms against 5.1 ms at 32 rows, 4.4 against 3.6 at 64).
FAST_PATH_MAX_ROWS = 32


@dataclass(frozen=True)
class Predictions:
    """Predicted classes and their probabilities, both in the predictor's ``classes`` order
    (price order, as :data:`CATEGORIES`)."""

    classes: tuple[str, ...]
    codes: np.ndarray  # per row, the index of its label in ``classes``
    probabilities: np.ndarray

    @property
    def labels(self) -> list[str]:
        labels: list[str] = np.asarray(self.classes, dtype=object)[self.codes].tolist()
        return labels


class Predictor:
    def __init__(
        self,
        pipeline: Any,
        *,
        tag: str = "unregistered",
        info: Any = None,
        fast_path: bool = True,
        project: Project | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.tag = tag
        self.info = info
        # The declaration the model was trained with: its fields are what it reads.
        self.project = project if project is not None else airbnb()
        self.fields = tuple(self.project.fields)
        classes = [str(c) for c in pipeline.classes_]
        unknown = sorted(set(classes) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"model {tag} predicts unknown classes {unknown}")
        self._to_price_order = [classes.index(c) for c in CATEGORIES if c in classes]
        self.classes = tuple(c for c in CATEGORIES if c in classes)
        self._model_to_price = np.array([self.classes.index(c) for c in classes], dtype=np.intp)
        features = pipeline.steps[0][1]
        # The estimator that computes probabilities, and the weights the model's own
        # ``predict`` applies to them before the argmax (None: plain argmax).
        estimator, self._weights = unwrap(pipeline.steps[-1][1])
        self._estimator = estimator
        self._fast: tuple[DeclaredFeatures, CompiledBoosting] | None = None
        self._bulk: Any = None  # the compiled walk (or False: not possible), built on first use
        # Batch prediction never takes the small-request path: it skips building it.
        supported = isinstance(features, DeclaredFeatures) and CompiledBoosting.supports(estimator)
        if fast_path and supported:
            self._fast = (features, CompiledBoosting(estimator))

    @classmethod
    def load(cls, model: Any, *, fast_path: bool = True) -> Predictor:
        """Load a model from the BentoML store: a tag string or a ``bentoml.Model``."""
        from pathlib import Path

        import bentoml

        stored = bentoml.models.get(model) if isinstance(model, str) else model
        pipeline = bentoml.sklearn.load_model(stored)
        project = saved_project(Path(stored.path))
        return cls(
            pipeline, tag=str(stored.tag), info=stored.info, fast_path=fast_path, project=project
        )

    @property
    def fast_path(self) -> bool:
        return self._fast is not None

    @property
    def categories(self) -> dict[str, list[str]]:
        return input_categories(self.pipeline)

    @property
    def area(self) -> Area:
        """The coordinates the model accepts (learned from its training listings)."""
        return input_area(self.pipeline)

    @property
    def city(self) -> City | None:
        """What the registered model knows about its city (None: registered before that was
        saved, or not registered)."""
        raw = (self.info.metadata or {}).get("city") if self.info is not None else None
        return City.from_dict(raw) if isinstance(raw, dict) else None

    @property
    def price_edges(self) -> tuple[float, ...]:
        """The upper prices of Low, Mid and High its categories were cut by."""
        return edges_of(self.city)

    @property
    def example(self) -> dict[str, Any]:
        """A request this model accepts: a real training listing when the model saved one, else
        the API's example moved into the model's categories and area."""
        city = self.city
        if city is not None:
            return dict(city.example)
        example, categories = dict(self.project.serving.example or {}), self.categories
        for field in self.project.of_kind("category"):
            if example.get(field) not in categories[field]:
                example[field] = categories[field][0]
        area = self.area
        for field, (low, high) in self.project.area_bounds(area.latitude, area.longitude).items():
            if not low <= example[field] <= high:
                example[field] = round((low + high) / 2, 5)
        return example

    def request_model(self) -> type[Request]:
        """The request model of this model: its declaration's fields, with the levels and area
        it learned and its example (built when a service loads it, never at import)."""
        area = self.area
        bounds = self.project.area_bounds(area.latitude, area.longitude)
        return request_model(self.project, self.categories, bounds, self.example)

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> Predictions:
        """Predict API-shaped dicts (the ``/classify`` fields; extra keys are ignored)."""
        if self._fast is not None and len(records) <= FAST_PATH_MAX_ROWS:
            features, compiled = self._fast
            matrix = features.encode({c: [r[c] for r in records] for c in self.fields})
            return self._finish(compiled.predict_proba(matrix))
        frame = pd.DataFrame.from_records(list(records), columns=list(self.fields))
        return self.predict_frame(frame)

    def predict_frame(self, frame: pd.DataFrame) -> Predictions:
        """Predict a frame whose columns include the ``/classify`` fields."""
        return self._finish(self.pipeline.predict_proba(frame.loc[:, list(self.fields)]))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's feature matrix for a frame of ``/classify`` fields (its own encoding)."""
        return np.asarray(self.pipeline[:-1].transform(frame.loc[:, list(self.fields)]))

    def predict_encoded(self, matrix: np.ndarray, threads: int | None = None) -> Predictions:
        """Predict rows :meth:`encode` made, through the compiled complete-tree walk of
        :mod:`mle_challenge.model.bulk` when the model allows it (gradient boosting of limited
        depth), else the model itself: the same answers, bit for bit, either way.
        ``threads`` caps the walk's threads for the calling thread only."""
        if self._bulk is None:
            from mle_challenge.model.bulk import CompleteTrees

            estimator = self._estimator
            self._bulk = CompleteTrees(estimator) if CompleteTrees.supports(estimator) else False
        if self._bulk is False:
            return self._finish(self._estimator.predict_proba(matrix))
        return self._finish(self._bulk.predict_proba(matrix, threads=threads))

    def _finish(self, proba: np.ndarray) -> Predictions:
        # Labels exactly as ``pipeline.predict`` gives them: the model's decision rule in its
        # own class order (which decides ties), then renumbered into price order.
        codes = self._model_to_price[decide(proba, self._weights)]
        return Predictions(self.classes, codes, proba[:, self._to_price_order])

    def city_summary(self) -> dict[str, Any]:
        """Where the model applies and how its categories are cut, for ``GET /model``."""
        city, features = self.city, self.pipeline.steps[0][1]
        return {
            "price_edges": list(self.price_edges),
            "price_rule": city.price_rule if city is not None else "fixed",
            "area": self.area.as_dict(),
            "price_peak": list(features.centre_) if hasattr(features, "centre_") else None,
            "neighbourhood_column": (
                city.neighbourhood_column if city is not None else "neighbourhood_group_cleansed"
            ),
            "example": self.example,
        }

    def summary(self) -> dict[str, Any]:
        """What the service says about its model at ``GET /model``."""
        info = self.info
        metadata = dict(info.metadata) if info is not None else {}
        return {
            "tag": self.tag,
            "created_at": info.creation_time.isoformat() if info is not None else None,
            "candidate": info.labels.get("candidate") if info is not None else None,
            "metrics": metadata.get("metrics", {}),
            "validation_metrics": metadata.get("validation_metrics", {}),
            "data_fingerprint": metadata.get("data_fingerprint"),
            "code_version": metadata.get("code_version"),
            "classes": list(self.classes),
            "categories": self.categories,
            "city": self.city_summary(),
            "fast_path": self.fast_path,
            "decision": describe(self.pipeline.steps[-1][1]),
        }
