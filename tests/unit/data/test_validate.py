"""Rows checked by the declared fields: batch prediction's rules, derived from the project."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from mle_challenge.data.validate import check_rows, typed
from mle_challenge.model.city import Area
from mle_challenge.project import AIRBNB, load_project, parse_project

pytestmark = pytest.mark.unit

PROJECT = load_project(AIRBNB)
LEVELS = {"room_type": ["Entire home/apt", "Private room"], "neighbourhood": ["Bronx", "Queens"]}
AREA = Area((40.5, 41.0), (-74.3, -73.7))
BOUNDS = {"latitude": AREA.latitude, "longitude": AREA.longitude}
ROW: dict[str, Any] = {
    "id": "7",
    "accommodates": "4",
    "room_type": "Private room",
    "beds": "2",
    "bedrooms": "",
    "bathrooms": "1.5",
    "neighbourhood": "Bronx",
    "tv": "true",
    "elevator": "0",
    "internet": "1",
    "latitude": "40.7",
    "longitude": "-73.9",
}
CHANGES: list[dict[str, Any]] = [
    {},
    {"id": None},
    {"id": "abc"},
    {"id": "7.5"},
    {"accommodates": None},
    {"accommodates": "4.5"},
    {"accommodates": "0"},
    {"accommodates": "x"},
    {"beds": "51"},
    {"beds": "inf"},
    {"bathrooms": "-1"},
    {"room_type": "Castle"},
    {"room_type": None},
    {"neighbourhood": " Queens "},
    {"latitude": None},
    {"latitude": "45"},
    {"longitude": "x"},
    {"tv": "yes"},
    {"tv": None},
    {"room_type": "Castle", "accommodates": "0", "tv": "2"},
]


def _frame(changes: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [ROW | {"id": str(100 + i)} | c for i, c in enumerate(changes)]
    return pd.DataFrame(rows, dtype="string").replace("", pd.NA)


# The reasons batch prediction's hand-written rules gave these rows before they were derived
# from the declaration (frozen when the derived checks replaced them: identical then).
REASONS = [
    "",
    "missing id",
    "id is not a whole number",
    "id is not a whole number",
    "missing accommodates",
    "accommodates not a whole number in [1, 50]",
    "accommodates not a whole number in [1, 50]",
    "accommodates is not a number",
    "beds out of range [0, 50]",
    "beds is not a number",
    "bathrooms out of range [0, 50]",
    "room_type not one of: Entire home/apt, Private room",
    "missing room_type",
    "",
    "missing latitude",
    "latitude outside the model's training area [40.5, 41.0]",
    "longitude is not a number",
    "tv is not true, false, 1 or 0",
    "tv is not true, false, 1 or 0",
    "room_type not one of: Entire home/apt, Private room",
    "duplicate id",
]


def test_the_airbnb_rules_are_batch_predictions() -> None:
    """Check that the checks derived from the project refuse the same rows for the same
    reasons as batch prediction's hand-written rules did, and type the rest."""
    frame = pd.concat([_frame(CHANGES), _frame([{}])], ignore_index=True)  # a duplicate id too
    frame.loc[len(frame) - 1, "id"] = "100"
    checked = check_rows(PROJECT, frame, LEVELS, BOUNDS)
    assert checked.reasons.fillna("").tolist() == REASONS
    good = checked.rows[checked.reasons.isna()]
    assert good["neighbourhood"].tolist() == ["Bronx", "Queens"]  # trimmed
    assert good["tv"].tolist() == [1, 1] and good["accommodates"].tolist() == [4.0, 4.0]
    assert list(checked.rows.columns) == [*PROJECT.fields, "id"]


def test_a_negative_id_is_refused_as_the_service_does() -> None:
    """Check that an id below 0, refused by /classify, is refused in a batch too."""
    checked = check_rows(PROJECT, _frame([{"id": "-5"}]), LEVELS, BOUNDS)
    assert checked.reasons.tolist() == ["id out of range [0, 2^63-1]"]


def test_a_project_of_its_own_kinds() -> None:
    """Check a nullable flag, a nullable count with learned bounds, and given levels."""
    project = parse_project(
        {
            "name": "t",
            "sources": "t.csv",
            "id": "key",
            "target": {"name": "y", "task": "classification", "column": "label"},
            "fields": {
                "n": {"kind": "count", "bounds": "learned", "nullable": True},
                "colour": {"kind": "category", "levels": ["red", "blue"]},
                "ok": {"kind": "flag", "nullable": True},
            },
            "serving": {"model_name": "t"},
            "train": {"candidates": {"a": {"kind": "x"}}},
        }
    )
    frame = pd.DataFrame(
        {
            "key": [1, 2, 3, 4, 5],
            "n": [1, None, 12, 2.5, 3],
            "colour": ["red", "blue", "red", "red", "green"],
            "ok": [1, None, 0, 1, 1],
        }
    )
    checked = check_rows(project, frame, {}, {"n": (0.0, 10.0)})
    assert checked.reasons.fillna("").tolist() == [
        "",
        "",
        "n not a whole number in [0, 10]",
        "n not a whole number in [0, 10]",
        "colour not one of: red, blue",
    ]
    flags = checked.rows["ok"]
    assert (flags[0], flags[2]) == (1, 0) and pd.isna(flags[1])  # unknown stays unknown


def test_rows_typed_as_requests() -> None:
    """Check that the client's rows carry each kind's JSON type (counts and flags whole)."""
    frame = pd.DataFrame([ROW | {"bedrooms": None, "tv": "1"}], dtype="string")
    row = typed(PROJECT, frame).iloc[0]
    assert row["accommodates"] == 4 and str(typed(PROJECT, frame)["tv"].dtype) == "Int64"
    assert (
        row["bathrooms"] == 1.5 and pd.isna(row["bedrooms"]) and row["room_type"] == "Private room"
    )
