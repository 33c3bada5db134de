"""Unit tests for what a model is registered with, assembled without Luigi or a model store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pytest

from mle_challenge.data.clean import clean_listings
from mle_challenge.lifecycle.registration import assemble, fitted_ids
from mle_challenge.lifecycle.registry import TRAINED_IDS_FILE, trained_ids_bytes
from mle_challenge.project import airbnb, declaration_bytes

pytestmark = pytest.mark.unit

PARAMS = {
    "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 1},
    "select": {"metric": "macro_f1", "refit": True},
    "candidates": {"hgb": {"kind": "hist_gradient_boosting"}, "rf": {"kind": "random_forest"}},
}


def _records(table: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    ids = table["id"].tolist()
    parts = {
        "train": ids[:300],
        "validation": ids[300:400],
        "test": ids[400:],
        "price_edges": [0, 69, 175, 350, 1e9],
        "price_rule": "fixed",
    }
    selection = {"selected": "hgb", "metrics": {"validation": {"macro_f1": 0.6}, "test": {}}}
    refit = {"refit": True, "test": {"macro_f1": 0.55, "confusion_matrix": [[1, 0], [0, 1]]}}
    return parts, selection, refit


@pytest.fixture(scope="module")
def table(synthetic_raw: pd.DataFrame) -> pd.DataFrame:
    return clean_listings(synthetic_raw.head(600)).table


def test_fitted_ids_follow_the_refit() -> None:
    """Check that a refitted model saw training and validation rows, else training rows only."""
    parts = {"train": [1, 2], "validation": [3], "test": [4]}
    assert fitted_ids(parts, refit=True) == [1, 2, 3]
    assert fitted_ids(parts, refit=False) == [1, 2]


def test_assemble_gives_the_registered_models_facts(table: pd.DataFrame) -> None:
    """Check the metrics, parameters, fitted rows, city facts and files of a registration."""
    parts, selection, refit = _records(table)
    seen: list[tuple[pd.DataFrame, Sequence[Sequence[int]]]] = []

    def reference(rows: pd.DataFrame, confusion: Sequence[Sequence[int]]) -> Mapping[str, bytes]:
        seen.append((rows, confusion))
        return {"reference_profile.json": b"{}"}

    got = assemble(
        table, parts, selection, refit, params=PARAMS, neighbourhood_source={}, reference=reference
    )
    assert got.candidate == "hgb"
    # validation: as the candidate was chosen; test: the refitted model's own
    assert got.metrics == {"validation": {"macro_f1": 0.6}, "test": refit["test"]}
    assert got.params["candidate"] == {"kind": "hist_gradient_boosting"}
    assert got.fitted_ids == parts["train"] + parts["validation"]
    [(rows, confusion)] = seen
    assert len(rows) == 400 and "id" not in rows.columns  # the API-shaped rows it was fitted on
    assert confusion == refit["test"]["confusion_matrix"]
    assert got.extra_files == {
        "reference_profile.json": b"{}",
        TRAINED_IDS_FILE: trained_ids_bytes(got.fitted_ids),
        "project.json": declaration_bytes(airbnb()),  # the declaration it was trained with
    }
    assert got.city.price_edges == (0, 69, 175, 350, 1e9)  # the city of the rows it saw
    assert sum(n.rows for n in got.city.neighbourhoods.values()) == 400
