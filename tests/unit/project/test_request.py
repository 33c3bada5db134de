"""The API's types derived from the declaration: any project's fields by their kinds. (The
Airbnb request's own behaviour is checked through ``listing_model`` in tests/unit/model/
test_schema.py; it was identical to the hand-written model it replaced, schema and errors.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mle_challenge.model.schema import Classification
from mle_challenge.project import AIRBNB, load_project, parse_project
from mle_challenge.project.request import answer_model, camel, request_model

pytestmark = pytest.mark.unit

PROJECT = load_project(AIRBNB)


def test_the_airbnb_answer_is_the_hand_written_classification() -> None:
    """Check that the answer model has today's schema (class order is price order here)."""
    old, new = Classification.model_json_schema(), answer_model(PROJECT).model_json_schema()
    described = "The model's probability of each class, in class order."
    assert new["properties"].pop("probabilities")["description"] == described
    old["properties"].pop("probabilities")
    assert new == old


def test_any_project_gets_types_by_kind() -> None:
    """Check a small regression project: a learned-bounds count, a given-levels category, a
    nullable number, and an answer with no probabilities."""
    project = parse_project(
        {
            "name": "rent",
            "sources": "rent.csv",
            "id": "flat",
            "target": {"name": "rent", "task": "regression", "column": "monthly_rent"},
            "fields": {
                "rooms": {"kind": "count", "bounds": "learned"},
                "floor_area": {"kind": "number", "nullable": True},
                "district": {"kind": "category", "levels": ["north", "south"]},
                "balcony": "flag",
            },
            "serving": {"route": "predict", "model_name": "rent"},
            "train": {"candidates": {"lin": {"kind": "linear"}}},
        }
    )
    model = request_model(project, bounds={"rooms": (1, 9)})
    row = model.model_validate({"flat": 1, "rooms": 3.0, "district": "north", "balcony": False})
    assert row.model_input() == {
        "flat": 1,
        "rooms": 3,
        "floor_area": None,
        "district": "north",
        "balcony": 0,
    }
    for bad in ({"rooms": 10}, {"district": "east"}, {"floor_area": "big"}, {"balcony": None}):
        with pytest.raises(ValidationError):
            model.model_validate({"flat": 1, "rooms": 3, "district": "north", "balcony": 1} | bad)
    answer = answer_model(project)
    assert set(answer.model_fields) == {"id", "rent", "model"}
    assert answer.model_validate({"id": 1, "rent": 950.5, "model": "rent:x"}).rent == 950.5  # type: ignore[attr-defined]


def test_enum_names_follow_the_field() -> None:
    """Check the API documents' names of field enums."""
    assert camel("room_type") == "RoomType" and camel("price_category") == "PriceCategory"
