"""What a model learns about its city: its area, where prices peak, its neighbourhoods and an
example request, all from the training rows, for any city."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mle_challenge import CATEGORIES
from mle_challenge.data.clean import clean_listings
from mle_challenge.data.synthetic import generate_listings
from mle_challenge.model.city import City, learn_area, learn_city, price_peak
from mle_challenge.model.features import (
    DeclaredFeatures,
    example_listing,
    input_area,
    to_model_input,
)
from mle_challenge.model.schema import listing_model
from mle_challenge.project import airbnb

pytestmark = pytest.mark.unit


def _clean(city: str, rows: int = 1500) -> pd.DataFrame:
    raw = generate_listings(rows, 2, city=city).astype(str).replace("", None)
    return clean_listings(raw).table


@pytest.mark.parametrize(
    ("city", "lat", "lon"),
    [("nyc", 40.7, -73.9), ("boston", 42.35, -71.06), ("zurich", 47.37, 8.54)],
)
def test_the_area_holds_the_city_and_not_the_others(city: str, lat: float, lon: float) -> None:
    table = _clean(city)
    area = learn_area(table["latitude"], table["longitude"])
    assert area.contains(table["latitude"], table["longitude"]).all()  # every training listing
    assert area.contains(lat, lon)
    others = {"nyc": (40.71, -73.97), "boston": (42.36, -71.06), "zurich": (47.37, 8.54)}
    for other, (x, y) in others.items():
        assert bool(area.contains(x, y)) == (other == city), other


def test_a_few_wrong_coordinates_do_not_stretch_the_area() -> None:
    lat = np.r_[np.random.default_rng(0).normal(42.35, 0.03, 5000), [0.0]]
    lon = np.r_[np.random.default_rng(1).normal(-71.06, 0.03, 5000), [0.0]]
    area = learn_area(lat, lon)
    assert area.latitude[0] > 42.0 and area.longitude[1] < -70.5


def test_prices_peak_where_the_dearest_listings_are() -> None:
    """Check that the peak is where the last class present lies, in the target's order."""
    lat, lon = [1.0, 1.0, 5.0, 5.0, 5.0], [2.0, 2.0, 6.0, 6.0, 6.0]
    assert price_peak(lat, lon, ["Low", "Low", "Lux", "Lux", "High"], CATEGORIES) == (5.0, 6.0)
    assert price_peak(lat, lon, ["Low", "Mid", "High", "High", "Low"], CATEGORIES) == (5.0, 6.0)
    assert price_peak(lat, lon) == (5.0, 6.0)  # no labels: the median of all
    # No declared order: sorted, so "b" is the top class and lies at (1, 2).
    assert price_peak(lat, lon, ["b", "b", "a", "a", "a"]) == (1.0, 2.0)


def test_the_distance_feature_is_measured_from_the_learned_peak() -> None:
    table = _clean("zurich")
    X, y = to_model_input(table), table["category"].astype(str)
    features = DeclaredFeatures.of(airbnb()).fit(X, y)
    assert features.centre_ == price_peak(X["latitude"], X["longitude"], y, CATEGORIES)
    assert 47.2 < features.centre_[0] < 47.5 and features.lon_scale_ == pytest.approx(
        0.677, abs=0.01
    )
    assert input_area(features).contains(X["latitude"], X["longitude"]).all()
    distance = list(features.get_feature_names_out()).index("distance_to_price_peak")
    at_peak = X.iloc[:1].assign(latitude=features.centre_[0], longitude=features.centre_[1])
    assert features.transform(at_peak)[0, distance] == 0.0


def test_city_facts_round_trip_and_give_a_valid_example() -> None:
    table = _clean("boston")
    city = learn_city(
        table,
        price_edges=(90.0, 180.0, 400.0),
        price_rule="fixed",
        neighbourhood_source={"neighbourhood_cleansed": len(table)},
        example=example_listing(table),
    )
    assert City.from_dict(city.as_dict()) == city
    assert city.neighbourhood_column == "neighbourhood_cleansed"
    assert city.example["id"] in set(table["id"])  # a real listing
    assert city.example["room_type"] == table["room_type"].mode()[0]
    X, y = to_model_input(table), table["category"].astype(str)
    features = DeclaredFeatures.of(airbnb()).fit(X, y)
    Listing = listing_model(features.categories_, features.area_, city.example)
    assert Listing.model_validate(city.example).id == city.example["id"]
    ranked = city.ranked()
    prices = table.groupby("neighbourhood")["price"].median()
    assert ranked[0] == prices[ranked].idxmin() and ranked[-1] == prices[ranked].idxmax()
