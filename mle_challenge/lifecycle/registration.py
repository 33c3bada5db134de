"""What a model is registered with, assembled from the training pipeline's records.

The pipeline's ``RegisterModel`` task only reads its inputs, calls :func:`assemble`, and hands
the result to :func:`registry.register_model`. Everything here is a pure function of those
records, so it is tested without Luigi or a model store.

The drift reference is built by the caller's ``reference`` function: the reference profile
belongs to ``monitoring``, which sits above ``lifecycle`` in the layering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mle_challenge.lifecycle.registry import TRAINED_IDS_FILE, trained_ids_bytes
from mle_challenge.model.city import City, learn_city
from mle_challenge.model.features import example_listing, to_model_input
from mle_challenge.project import PROJECT_FILE, Project, airbnb, declaration_bytes

# (API-shaped rows the model was fitted on, its test confusion matrix) → {file name: bytes}
Reference = Callable[[pd.DataFrame, Sequence[Sequence[int]]], Mapping[str, bytes]]


@dataclass(frozen=True)
class Registration:
    """Everything ``registry.register_model`` is given, besides the model and its lineage."""

    candidate: str  # the selected candidate's name in params.yaml
    metrics: dict[str, Any]  # validation: as the candidate was chosen; test: the model registered
    params: dict[str, Any]  # the sections of params.yaml that made this model
    fitted_ids: list[int]  # the rows the registered model was fitted on
    city: City
    extra_files: dict[str, bytes]  # saved in the model's folder, under its content hash


def fitted_ids(parts: Mapping[str, Sequence[int]], refit: bool) -> list[int]:
    """The ids of the rows the registered model saw: training rows, plus the validation rows
    when it was fitted again on both (``select.refit``)."""
    return [*parts["train"], *parts["validation"]] if refit else list(parts["train"])


def assemble(
    table: pd.DataFrame,
    parts: Mapping[str, Any],
    selection: Mapping[str, Any],
    refit: Mapping[str, Any],
    *,
    params: Mapping[str, Any],
    neighbourhood_source: Mapping[str, int],
    reference: Reference,
    project: Project | None = None,
) -> Registration:
    """The registration of the selected (and maybe refitted) model.

    ``table``: the clean table with this split's ``category``; ``parts``: the split record
    (ids by part, price edges and rule); ``selection`` and ``refit``: the records of those
    stages; ``params``: ``split``, ``select`` and ``candidates`` as the pipeline ran them;
    ``project``: the declaration it was trained with (default: the Airbnb project), saved in
    the model's folder so that a service builds its types from the model it serves.
    """
    project = project if project is not None else airbnb()
    seen = fitted_ids(parts, bool(refit["refit"]))
    rows = table[table["id"].isin(seen)]
    city = learn_city(
        rows,
        price_edges=parts["price_edges"],
        price_rule=parts["price_rule"],
        neighbourhood_source=neighbourhood_source,
        example=example_listing(rows, project),
    )
    name = str(selection["selected"])
    # What monitoring compares served listings with: the rows the model was fitted on, and
    # the classes it answered on the test rows.
    files = dict(reference(to_model_input(rows, project), refit["test"]["confusion_matrix"]))
    return Registration(
        candidate=name,
        metrics={"validation": selection["metrics"]["validation"], "test": refit["test"]},
        params={
            "split": dict(params["split"]),
            "candidate": params["candidates"][name],
            "select": dict(params["select"]),
        },
        fitted_ids=seen,
        city=city,
        extra_files={
            **files,
            TRAINED_IDS_FILE: trained_ids_bytes(seen),
            PROJECT_FILE: declaration_bytes(project),
        },
    )
