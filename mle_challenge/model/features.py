"""The one definition of the model's inputs, saved inside every model as a scikit-learn step.

Training, evaluation, batch prediction and the service all hand the model a DataFrame whose
columns are the project's declared fields (:func:`to_model_input`); the encoding lives in the
fitted pipeline (:class:`DeclaredFeatures`, built from the declaration), so training and
serving cannot drift apart. Nothing here names a field: the kinds decide the encoding.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mle_challenge.model.city import Area, learn_area, price_peak
from mle_challenge.project import Project, airbnb

# Kinds the encoder passes through as floats, in declared order (after the categories).
NUMERIC_KINDS = ("number", "count", "flag", "latitude", "longitude")
_ANGLES = (15, 30, 45, 60, 75)  # rotated axes let axis-aligned trees cut diagonal borders
_COS = tuple(float(np.cos(np.radians(a))) for a in _ANGLES)
_SIN = tuple(float(np.sin(np.radians(a))) for a in _ANGLES)
LOCATION_FEATURES = ("distance_to_price_peak", *(f"rotated_{a}" for a in _ANGLES))

# Names models pickled before the encoding was declared still load by (their classes now live
# with the Airbnb project's own code); also the old constant lists, for callers not yet
# given a project. Looked up by name, as a project's own code is: the model does not import it.
_MOVED = {
    "ListingFeatures": "mle_challenge.airbnb.legacy",
    "BaselineFeatures": "mle_challenge.airbnb.baseline",
    "API_FEATURES": "mle_challenge.airbnb.legacy",
    "CATEGORICAL": "mle_challenge.airbnb.legacy",
    "NUMERIC": "mle_challenge.airbnb.legacy",
    "API_FLAGS": "mle_challenge.airbnb.legacy",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_model_input(table: pd.DataFrame, project: Project | None = None) -> pd.DataFrame:
    """The model's input frame: the declared fields of ``project`` (default: the Airbnb
    project), in declared order, from the prepared table (or request-shaped rows)."""
    fields = list((project or airbnb()).fields)
    frame = table.rename(columns=_case_renames(table.columns, fields))
    missing = [c for c in fields if c not in frame.columns]
    if missing:
        raise KeyError(
            f"model input is missing declared field(s): {', '.join(missing)} (the prepared "
            "table must have a column of each declared field's name)"
        )
    return frame.loc[:, fields].reset_index(drop=True)


def _case_renames(columns: Sequence[Any], fields: Sequence[str]) -> dict[str, str]:
    # COMPATIBILITY, until preparation writes the declared names: the Airbnb clean table keeps
    # the notebook's capitalised amenity flag names (TV where the project declares tv), so a
    # declared field that is absent is taken from the one column equal to it but for case.
    present = {str(c) for c in columns}
    renames = {}
    for field in fields:
        if field in present:
            continue
        same = [c for c in present if c.lower() == field.lower()]
        if len(same) == 1:
            renames[same[0]] = field
    return renames


def example_listing(table: pd.DataFrame, project: Project | None = None) -> dict[str, Any]:
    """A typical real row of the prepared table, as a request: every field filled, of the
    commonest level of each category, of median first number or count (the lowest id among
    equals, so the same rows give the same example)."""
    project = project or airbnb()
    rows = to_model_input(table, project).assign(_id=table[project.id].to_numpy())
    complete = rows.dropna()
    if complete.empty:
        complete = rows
    for column in project.of_kind("category"):
        common = complete[column].astype(str).value_counts()
        top = sorted(common[common == common.max()].index)[0]
        complete = complete[complete[column].astype(str) == top]
    sizes = project.of_kind("count", "number")
    gap = (complete[sizes[0]] - complete[sizes[0]].median()).abs() if sizes else 0.0
    row = complete.assign(_gap=gap).sort_values(["_gap", "_id"]).iloc[0]
    example: dict[str, Any] = {project.id: int(row["_id"])}
    for column, spec in project.fields.items():
        example[column] = _plain(row[column], spec.kind)
    return example


def _plain(value: Any, kind: str) -> Any:
    """A cell as a request's JSON value: text for a category, coordinates to 5 decimals
    (about a metre), whole numbers as ints."""
    if pd.isna(value):
        return None
    if kind == "category":
        return str(value)
    if kind in ("latitude", "longitude"):
        return round(float(value), 5)
    number = float(value)
    return int(number) if number.is_integer() else number


class DeclaredFeatures(TransformerMixin, BaseEstimator):
    """Declared fields → numeric matrix for tree models, by the fields' kinds.

    ``fields`` is ``(name, kind)`` in declared order, ``ratios`` ``(name, numerator,
    denominator)``, ``classes`` the target's classes in order (None: sorted). The output is,
    in order: the category fields' codes by the vocabulary seen in ``fit`` (unknown → NaN,
    which gradient boosting treats as missing; first, see :attr:`categorical_indices`); the
    number, count, flag and coordinate fields as floats; with a latitude and a longitude
    field, the distance to where the last class peaks and rotated coordinates; the ratios,
    denominator floored at 1. ``fit`` also learns the area the model accepts
    (:func:`input_area`). Build it from a project with :meth:`of`.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]] = (),
        ratios: Sequence[tuple[str, str, str]] = (),
        classes: Sequence[str] | None = None,
    ) -> None:
        self.fields = fields
        self.ratios = ratios
        self.classes = classes

    @classmethod
    def of(cls, project: Project) -> DeclaredFeatures:
        """The unfitted encoder of ``project``'s declared fields and ratios."""
        return cls(
            fields=tuple((name, spec.kind) for name, spec in project.fields.items()),
            ratios=tuple((name, a, b) for name, (a, b) in project.features.ratios.items()),
            classes=project.target.labels,
        )

    def fit(self, X: pd.DataFrame, y: Any = None) -> DeclaredFeatures:
        self._layout()
        self.categories_ = {
            c: sorted(X[c].dropna().astype(str).unique()) for c in self.category_fields_
        }
        self.area_: Area | None = None
        if self.location_ is not None:
            lat, lon = X[self.location_[0]], X[self.location_[1]]
            self.area_ = learn_area(lat, lon)
            self.centre_ = price_peak(lat, lon, y, self.classes)
            # Makes a degree of longitude as long as one of latitude, at this city's latitude.
            self.lon_scale_ = round(float(np.cos(np.radians(self.centre_[0]))), 4)
        location = LOCATION_FEATURES if self.location_ is not None else ()
        self.feature_names_out_ = np.array(
            [*self.category_fields_, *self.numeric_fields_, *location]
            + [name for name, _, _ in self.ratios]
        )
        return self

    def _layout(self) -> None:
        """Which fields go where, fixed once so ``encode`` only indexes (the service calls it
        on every request)."""
        kinds = dict(self.fields)
        self.category_fields_ = tuple(n for n, k in self.fields if k == "category")
        self.numeric_fields_ = tuple(n for n, k in self.fields if k in NUMERIC_KINDS)
        lat = [n for n, k in self.fields if k == "latitude"]
        lon = [n for n, k in self.fields if k == "longitude"]
        self.location_ = (lat[0], lon[0]) if lat and lon else None
        unknown = sorted({p for _, a, b in self.ratios for p in (a, b)} - set(kinds))
        if unknown:
            raise ValueError(f"ratios name undeclared field(s) {unknown}: declare them first")
        at = {name: i for i, name in enumerate(self.numeric_fields_)}
        self.location_positions_ = (
            (at[self.location_[0]], at[self.location_[1]]) if self.location_ is not None else None
        )
        # Each ratio's numerator and denominator as positions among the numeric columns.
        self.ratio_positions_ = tuple((at[a], at[b]) for _, a, b in self.ratios)

    @property
    def categorical_indices(self) -> list[int]:
        """The output columns that are category codes (the estimator's categorical features)."""
        return list(range(sum(1 for _, kind in self.fields if kind == "category")))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.encode({c: X[c] for c, _ in self.fields})

    def encode(self, columns: Mapping[str, Any]) -> np.ndarray:
        """The feature matrix from field-named column arrays (the one definition of the
        encoding).

        ``transform`` feeds it DataFrame columns; the service feeds it request fields directly,
        skipping pandas, which costs more than the model on a single row.
        """
        codes = [self._codes(c, columns[c]) for c in self.category_fields_]
        num = [np.asarray(columns[c], dtype=float) for c in self.numeric_fields_]
        parts = [*codes, *num]
        if self.location_positions_ is not None:
            lat_at, lon_at = self.location_positions_
            lat = num[lat_at] - self.centre_[0]
            lon = (num[lon_at] - self.centre_[1]) * self.lon_scale_
            parts.append(np.hypot(lat, lon))
            parts += [lat * _COS[i] + lon * _SIN[i] for i in range(len(_ANGLES))]
        parts += [num[a] / np.maximum(num[b], 1.0) for a, b in self.ratio_positions_]
        # Column-major: each feature is one contiguous write (np.column_stack's row-major
        # copy was a third of encoding's time on 100,000 rows); readers take either layout.
        matrix = np.empty((len(parts[0]), len(parts)), order="F")
        for j, part in enumerate(parts):
            matrix[:, j] = part
        return matrix

    def _codes(self, column: str, values: Any) -> np.ndarray:
        vocabulary = self.categories_[column]
        if len(values) > 64:  # pandas' hash join wins on large inputs, a dict on small ones
            # Cells compare as text; missing ones (and unknown ones) get no code.
            text = pd.Series(values, copy=False).astype("string")
            found = pd.Categorical(text, categories=vocabulary).codes
            return np.where(found < 0, np.nan, found.astype(float))
        # Built once per fitted model (the service calls this on every request), not per call.
        positions = self.__dict__.setdefault("_positions", {})
        if column not in positions:
            positions[column] = {name: float(i) for i, name in enumerate(vocabulary)}
        position = positions[column]
        return np.array([position.get(str(v), np.nan) for v in np.asarray(values)], dtype=float)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_out_

    def input_categories(self) -> dict[str, list[str]]:
        """The levels of each category field, as learned."""
        return {c: list(levels) for c, levels in self.categories_.items()}


def _features_step(model: Any) -> Any:
    return model.steps[0][1] if hasattr(model, "steps") else model


def input_categories(model: Any) -> dict[str, list[str]]:
    """The levels of each category field a fitted pipeline knows, for the API's enums."""
    features = _features_step(model)
    if not hasattr(features, "input_categories"):
        raise TypeError(f"cannot tell the input categories of {type(features).__name__}")
    levels: dict[str, list[str]] = features.input_categories()
    return levels


def input_area(model: Any) -> Area:
    """The coordinates a fitted pipeline accepts: its training rows' box, with a margin."""
    area = getattr(_features_step(model), "area_", None)
    if not isinstance(area, Area):
        name = type(_features_step(model)).__name__
        raise TypeError(f"cannot tell the input area of {name} (no latitude and longitude?)")
    return area
