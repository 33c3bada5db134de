"""The gate's obvious cases come from the model's own city, and are skipped, with the reason,
where that city's data cannot make them."""

from __future__ import annotations

import pytest

from mle_challenge.lifecycle.gate import minimum_cases
from mle_challenge.model.city import City, Neighbourhood
from mle_challenge.project import AIRBNB, load_project

pytestmark = pytest.mark.unit

PROJECT = load_project(AIRBNB)
ROOMS = ["Entire home/apt", "Hotel room", "Private room", "Shared room"]


def _city(**hoods: tuple[int, float]) -> City:
    return City(
        price_edges=(90.0, 180.0, 400.0),
        price_rule="fixed",
        neighbourhood_source={"neighbourhood_cleansed": 100},
        neighbourhoods={
            name: Neighbourhood(rows=rows, median_price=price, latitude=42.3, longitude=-71.1)
            for name, (rows, price) in hoods.items()
        },
        example={},
    )


def test_cases_sit_in_the_dearest_and_cheapest_neighbourhoods_with_enough_rows() -> None:
    city = _city(Back_Bay=(200, 260.0), Mattapan=(80, 70.0), Tiny=(5, 900.0))
    home, room = minimum_cases(PROJECT, city, {"room_type": ROOMS, "neighbourhood": ["x"]})
    assert home.listing is not None and home.listing["neighbourhood"] == "Back_Bay"
    assert home.forbidden == "Low" and home.listing["room_type"] == "Entire home/apt"
    assert room.listing is not None and room.listing["neighbourhood"] == "Mattapan"
    assert room.listing["room_type"] == "Shared room" and room.forbidden == "Lux"
    assert home.listing["latitude"] == 42.3
    assert home.name == "entire home for 8 in Back_Bay is not Low"
    assert room.name == "room for 1 in Mattapan is not Lux"


def test_a_city_without_shared_rooms_uses_a_private_room() -> None:
    city = _city(A=(100, 200.0), B=(100, 80.0))
    rooms = ["Entire home/apt", "Private room"]
    _, room = minimum_cases(PROJECT, city, {"room_type": rooms, "neighbourhood": ["A", "B"]})
    assert room.listing is not None and room.listing["room_type"] == "Private room"


def test_cases_the_data_cannot_make_are_skipped_with_the_reason() -> None:
    only_homes = minimum_cases(PROJECT, _city(A=(100, 200.0)), {"room_type": ["Entire home/apt"]})
    assert only_homes[0].listing is not None
    assert only_homes[1].listing is None
    assert only_homes[1].why == "no Shared room or Private room in the training data"
    small = minimum_cases(PROJECT, _city(A=(10, 200.0)), {"room_type": ROOMS})
    assert all(c.listing is None and "30 training rows" in c.why for c in small)
    legacy = minimum_cases(PROJECT, None, {"room_type": ROOMS})
    assert all(c.listing is None and "train it again" in c.why for c in legacy)
