"""The API's request and response types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mle_challenge.model.city import NYC_AREA, Area
from mle_challenge.model.schema import listing_model
from tests.support.airbnb import EXAMPLE_LISTING

pytestmark = pytest.mark.unit

CATEGORIES = {
    "room_type": ["Entire home/apt", "Hotel room", "Private room", "Shared room"],
    "neighbourhood": ["Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"],
}
Listing = listing_model(CATEGORIES, NYC_AREA)


def _errors(payload: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        Listing.model_validate_json(json.dumps(payload))
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def test_the_challenge_example_is_valid() -> None:
    listing = Listing.model_validate_json(json.dumps(EXAMPLE_LISTING))
    assert listing.model_input() == {
        **EXAMPLE_LISTING,
        "beds": 2.0,
        "bedrooms": 1.0,
        "bathrooms": 2.0,
    }


@pytest.mark.parametrize("flag", [True, False, 0, 1])
def test_flags_take_booleans_and_zero_one(flag: Any) -> None:
    listing = Listing.model_validate_json(json.dumps(EXAMPLE_LISTING | {"tv": flag}))
    assert listing.model_input()["tv"] == int(flag)


def test_counts_may_be_missing_and_integral_floats_are_counts() -> None:
    payload = {k: v for k, v in EXAMPLE_LISTING.items() if k not in ("beds", "bedrooms")}
    listing = Listing.model_validate_json(json.dumps(payload | {"accommodates": 4.0}))
    assert listing.model_input()["beds"] is None
    assert listing.model_input()["accommodates"] == 4


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"tv": 2}, "tv", "true, false, 1 or 0"),
        ({"tv": "1"}, "tv", "true, false, 1 or 0"),
        ({"accommodates": "4"}, "accommodates", "valid integer"),
        ({"accommodates": 4.5}, "accommodates", "valid integer"),
        ({"accommodates": 0}, "accommodates", "greater than or equal to 1"),
        ({"neighbourhood": "Paris"}, "neighbourhood", "'Bronx', 'Brooklyn'"),
        ({"room_type": "Castle"}, "room_type", "'Entire home/apt'"),
        ({"latitude": 48.85}, "latitude", "outside the area the model was trained on"),
        ({"longitude": -71.06}, "longitude", "[-74.4, -73.6]"),
        ({"longitude": "-73.9"}, "longitude", "valid number"),
        ({"bedrooms": -1}, "bedrooms", "greater than or equal to 0"),
        ({"price": 100}, "price", "Extra inputs are not permitted"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, Any], field: str, words: str) -> None:
    errors = _errors(EXAMPLE_LISTING | change)
    assert any(loc[0] == field and words in msg for loc, msg in errors), errors


def test_nan_and_infinity_are_refused() -> None:
    for text in ("NaN", "Infinity", "-Infinity"):
        body = json.dumps(EXAMPLE_LISTING).replace("40.71383", text)
        with pytest.raises(ValidationError):
            Listing.model_validate_json(body)


def test_missing_fields_are_named() -> None:
    errors = _errors({"id": 1})
    assert {loc[0] for loc, _ in errors} >= {"accommodates", "room_type", "latitude", "tv"}


def test_enums_come_from_the_model_and_show_in_the_schema() -> None:
    other = listing_model({"room_type": ["Private room"], "neighbourhood": ["Queens"]})
    schema = TypeAdapter(other).json_schema()
    assert schema["$defs"]["Neighbourhood"]["enum"] == ["Queens"]
    assert schema["example"] == EXAMPLE_LISTING


def test_the_area_is_the_models_and_shows_in_the_schema() -> None:
    boston = Area((42.2, 42.45), (-71.2, -70.95))
    example = EXAMPLE_LISTING | {"latitude": 42.35, "longitude": -71.06}
    other = listing_model(CATEGORIES, boston, example)
    assert other.model_validate(example).model_input()["latitude"] == 42.35
    with pytest.raises(ValidationError, match="outside the area the model was trained on"):
        other.model_validate(EXAMPLE_LISTING)  # a Brooklyn listing
    schema = TypeAdapter(other).json_schema()
    assert schema["properties"]["latitude"]["minimum"] == 42.2
    assert schema["properties"]["longitude"]["maximum"] == -70.95
    assert schema["example"] == example


def test_without_an_area_any_coordinates_on_earth_pass() -> None:
    anywhere = listing_model(CATEGORIES)
    assert anywhere.model_validate(EXAMPLE_LISTING | {"latitude": 47.37, "longitude": 8.54})
    with pytest.raises(ValidationError):
        anywhere.model_validate(EXAMPLE_LISTING | {"latitude": 91.0})
