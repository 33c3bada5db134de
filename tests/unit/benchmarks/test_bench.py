"""The benchmarks' own helpers (the benchmarks themselves print figures and run by hand)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.bench import _twins

pytestmark = pytest.mark.unit


def _listing(lat: float, category: str, guests: int = 2) -> dict[str, object]:
    return {
        "room_type": "Entire home/apt",
        "accommodates": guests,
        "bedrooms": 1.0,
        "beds": 1.0,
        "bathrooms": 1.0,
        "latitude": lat,
        "longitude": -73.95,
        "category": category,
    }


def test_twins_need_the_same_fields_within_the_radius() -> None:
    # 0.0001° of latitude is about 11 m.
    known = pd.DataFrame(
        [
            _listing(40.7000, "Mid"),
            _listing(40.7001, "Mid"),
            _listing(40.7002, "High"),
            _listing(40.7000, "Lux", guests=6),  # other fields: never a twin
            _listing(40.7100, "Low"),  # 1.1 km away
        ]
    )
    test = pd.DataFrame([_listing(40.7000, "Mid"), _listing(40.7000, "High", guests=3)])
    found = _twins(known, test, (5, 50))
    rows, agree = found[5]
    assert rows.tolist() == [0] and agree.tolist() == [True]  # one twin, right
    rows, agree = found[50]
    assert rows.tolist() == [0] and agree.tolist() == [True]  # Mid, Mid, High: Mid
