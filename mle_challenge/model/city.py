"""What a model knows about its city, learned from its training rows and saved with it.

Nothing here names New York: the area a model accepts, the place prices peak, the
neighbourhoods' prices, the price edges and the example request all come from the rows the
model was fitted on, so the same code serves any Inside Airbnb city. Models registered before
these were learned carry none of them; they get New York's, which is what they were built for
(:data:`NYC_AREA`, :data:`MIDTOWN`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge import PRICE_BINS

# Past the 0.1–99.9 percentiles of the training listings, a listing is still of the city up to
# this far: NYC's southernmost listings (Staten Island's tip) lie 7 km past the 0.1 percentile;
# the next city is hundreds of kilometres away.
MARGIN_KM = 10.0
_KM_PER_DEGREE = 111.32
# Too few rows and a neighbourhood's median price says little: the gate's cases ignore it.
MIN_NEIGHBOURHOOD_ROWS = 30

MIDTOWN = (40.7549, -73.9840)  # the distance feature's centre before it was learned


@dataclass(frozen=True)
class Area:
    """The box of coordinates a model accepts: its training listings, with a margin."""

    latitude: tuple[float, float]
    longitude: tuple[float, float]

    def as_dict(self) -> dict[str, list[float]]:
        return {"latitude": list(self.latitude), "longitude": list(self.longitude)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Sequence[float]]) -> Area:
        lat, lon = raw["latitude"], raw["longitude"]
        return cls((float(lat[0]), float(lat[1])), (float(lon[0]), float(lon[1])))

    def contains(self, latitude: Any, longitude: Any) -> np.ndarray:
        lat, lon = np.asarray(latitude, dtype=float), np.asarray(longitude, dtype=float)
        return (
            (lat >= self.latitude[0])
            & (lat <= self.latitude[1])
            & (lon >= self.longitude[0])
            & (lon <= self.longitude[1])
        )


NYC_AREA = Area((40.40, 41.00), (-74.40, -73.60))  # models registered before areas were learned


def learn_area(latitude: Any, longitude: Any, margin_km: float = MARGIN_KM) -> Area:
    """The 0.1–99.9 percentile box of the coordinates, widened by ``margin_km``: a few listings
    with wrong coordinates do not stretch it, and the city's edges are inside it."""
    lat = pd.Series(latitude, dtype=float).dropna()
    lon = pd.Series(longitude, dtype=float).dropna()
    if lat.empty or lon.empty:
        raise ValueError("no coordinates to learn the area from")
    low_lat, high_lat = (float(v) for v in lat.quantile([0.001, 0.999]))
    low_lon, high_lon = (float(v) for v in lon.quantile([0.001, 0.999]))
    d_lat = margin_km / _KM_PER_DEGREE
    d_lon = margin_km / (_KM_PER_DEGREE * max(math.cos(math.radians(lat.median())), 0.01))
    return Area(
        (round(max(low_lat - d_lat, -90.0), 5), round(min(high_lat + d_lat, 90.0), 5)),
        (round(max(low_lon - d_lon, -180.0), 5), round(min(high_lon + d_lon, 180.0), 5)),
    )


def price_peak(
    latitude: Any, longitude: Any, labels: Any = None, classes: Sequence[str] | None = None
) -> tuple[float, float]:
    """Where the target peaks: the median coordinates of the rows of the last class (in
    ``classes``' order, else sorted) present in ``labels`` (all rows when there are no labels).
    On NYC's price categories it is 1.4 km from Midtown, the centre the notebooks chose by
    hand."""
    lat, lon = np.asarray(latitude, dtype=float), np.asarray(longitude, dtype=float)
    chosen = np.ones(len(lat), dtype=bool)
    if labels is not None:
        text = np.asarray(labels, dtype=object).astype(str)
        seen = set(text)
        present = [c for c in classes if c in seen] if classes is not None else sorted(seen)
        if present:
            chosen = text == present[-1]
    chosen &= ~(np.isnan(lat) | np.isnan(lon))
    if not chosen.any():
        raise ValueError("no coordinates to find where the target peaks")
    return round(float(np.median(lat[chosen])), 5), round(float(np.median(lon[chosen])), 5)


@dataclass(frozen=True)
class Neighbourhood:
    rows: int
    median_price: float
    latitude: float
    longitude: float


@dataclass(frozen=True)
class City:
    """What the model's metadata says about its city (``city`` in the BentoML model's
    metadata), beside what its features step learned (the area, the price peak)."""

    price_edges: tuple[float, ...]
    price_rule: str  # "fixed" (params.yaml's edges) or "quantile" (the training prices')
    neighbourhood_source: dict[str, int]  # raw column → training rows it named
    neighbourhoods: dict[str, Neighbourhood]
    example: dict[str, Any]  # a real training listing, as a /classify request

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, as BentoML's metadata keeps them."""
        result: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return result

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> City:
        return cls(
            price_edges=tuple(float(e) for e in raw["price_edges"]),
            price_rule=str(raw.get("price_rule", "fixed")),
            neighbourhood_source={str(k): int(v) for k, v in raw["neighbourhood_source"].items()},
            neighbourhoods={str(k): Neighbourhood(**v) for k, v in raw["neighbourhoods"].items()},
            example=dict(raw["example"]),
        )

    @property
    def neighbourhood_column(self) -> str:
        """Which raw column the neighbourhood came from: the group where filled, else the
        cleansed neighbourhood (``data.airbnb_fields.resolve_neighbourhood``)."""
        used = [c for c, n in self.neighbourhood_source.items() if n]
        return ", else ".join(used) or "none"

    def ranked(self, min_rows: int = MIN_NEIGHBOURHOOD_ROWS) -> list[str]:
        """Neighbourhoods with at least ``min_rows`` training listings, cheapest first."""
        enough = [(v.median_price, k) for k, v in self.neighbourhoods.items() if v.rows >= min_rows]
        return [k for _, k in sorted(enough)]


def edges_of(city: City | None) -> tuple[float, ...]:
    """The price edges of a model's city; NYC's for models that saved none (they were cut so)."""
    return city.price_edges if city is not None else PRICE_BINS


def learn_city(
    rows: pd.DataFrame,
    *,
    price_edges: Sequence[float],
    price_rule: str,
    neighbourhood_source: Mapping[str, int],
    example: Mapping[str, Any],
) -> City:
    """The city facts of the training rows ``rows`` (the clean table's columns); ``example``
    is one of them as a request (``features.example_listing``)."""
    groups = rows.groupby(rows["neighbourhood"].astype(str))
    neighbourhoods = {
        str(name): Neighbourhood(
            rows=len(part),
            median_price=round(float(part["price"].median()), 2),
            latitude=round(float(part["latitude"].median()), 5),
            longitude=round(float(part["longitude"].median()), 5),
        )
        for name, part in groups
    }
    return City(
        price_edges=tuple(float(e) for e in price_edges),
        price_rule=price_rule,
        neighbourhood_source={str(k): int(v) for k, v in neighbourhood_source.items()},
        neighbourhoods=dict(sorted(neighbourhoods.items())),
        example=dict(example),
    )
