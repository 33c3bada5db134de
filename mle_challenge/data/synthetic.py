"""Deterministic synthetic listings in Inside Airbnb's raw *detailed* format: the demo data.

The rows have NYC-like structure (five boroughs with realistic coordinates, room types,
sizes, amenities) and a price that depends on them plus noise, so that a model trained
on them learns something real. Cells use the raw file's string formats (``"$1,250.00"``,
``"1.5 shared baths"``, ``'["Wifi", "TV"]'``) and include the raw file's messiness:
missing bedrooms and beds, half-baths, a few prices below $10.

``month`` > 0 gives the same city scraped that many months later, as monitoring needs: most
listings are still there with the same id and the same features at a slightly different price,
some have left and new ones have come (5% a month). ``shift`` moves the market each month:
prices rise by ``exp(shift / 2)``, and a further share ``shift`` of the listings is replaced by
newcomers from a tilted mix (more entire homes, more Manhattan, more guests). ``shift=0`` is
the same market a month on: no drift to find; 0.5 is a clear drift. Months follow each other:
month 2 is month 1 a month later, so a listing classified in month 1 has its price in month 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# borough: (share of listings, centre latitude, centre longitude, spread in degrees, log-price)
_BOROUGHS: dict[str, tuple[float, float, float, float, float]] = {
    "Manhattan": (0.40, 40.7685, -73.9730, 0.030, 0.45),
    "Brooklyn": (0.41, 40.6840, -73.9550, 0.035, 0.15),
    "Queens": (0.15, 40.7300, -73.8400, 0.045, 0.00),
    "Bronx": (0.03, 40.8450, -73.8650, 0.030, -0.10),
    "Staten Island": (0.01, 40.5900, -74.1100, 0.030, -0.05),
}
# room type: (share, log-price effect, typical guests)
_ROOM_TYPES: dict[str, tuple[float, float, float]] = {
    "Entire home/apt": (0.51, 0.55, 3.2),
    "Private room": (0.465, 0.0, 1.7),
    "Shared room": (0.016, -0.55, 1.3),
    "Hotel room": (0.009, 0.65, 2.2),
}
_PROPERTY_TYPES = {
    "Entire home/apt": "Entire rental unit",
    "Private room": "Private room in rental unit",
    "Shared room": "Shared room in rental unit",
    "Hotel room": "Room in hotel",
}
# amenity: (probability, log-price effect)
_AMENITIES: dict[str, tuple[float, float]] = {
    "Wifi": (0.95, 0.02),
    "Heating": (0.93, 0.0),
    "Kitchen": (0.85, 0.02),
    "Air conditioning": (0.80, 0.08),
    "TV": (0.55, 0.12),
    "Elevator": (0.22, 0.12),
    "Breakfast": (0.07, 0.0),
    "Dishwasher": (0.20, 0.08),
    "Washer": (0.30, 0.06),
    "Free street parking": (0.35, -0.06),
}
_MIDTOWN = (40.7549, -73.9840)

SYNTH_COLUMNS: tuple[str, ...] = (
    "id",
    "neighbourhood_group_cleansed",
    "property_type",
    "room_type",
    "latitude",
    "longitude",
    "accommodates",
    "bathrooms",
    "bathrooms_text",
    "bedrooms",
    "beds",
    "amenities",
    "price",
)


_NATURAL_CHURN = 0.05  # listings that leave (and as many that arrive) in a month
_MONTH_NOISE = 0.08  # month-to-month change of a listing's log-price
# How the mix of new listings tilts under `shift`: log-odds added per unit of tilt.
_BOROUGH_TILT = {"Manhattan": 1.0, "Brooklyn": 0.0, "Queens": -0.5, "Bronx": -0.5}
_ROOM_TILT = {"Entire home/apt": 1.0, "Private room": -0.5, "Shared room": -1.0}


def generate_listings(
    rows: int, seed: int = 0, *, month: int = 0, shift: float = 0.0
) -> pd.DataFrame:
    """``rows`` raw-format listings, identical for the same arguments.

    ``month=0`` is the first scrape (and ``shift`` must be 0 there); a later ``month`` of the
    same ``(rows, seed)`` keeps most listings' ids and features and reprices them.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1; got {rows}")
    if month < 0:
        raise ValueError(f"month must be 0 (the first scrape) or later; got {month}")
    if not 0.0 <= shift <= 0.9:
        raise ValueError(f"shift must be between 0 and 0.9; got {shift}")
    if month == 0 and shift:
        raise ValueError("shift applies to a later month: pass month=1 or more with it")
    rng = np.random.default_rng(seed)
    features, log_price = _draw(rng, rows, tilt=0.0)
    ids = np.arange(1, rows + 1) * 7 + 1000
    if month:
        features, log_price, ids = _later(seed, features, log_price, ids, month, shift)
    price = np.round(np.exp(log_price))
    price[rng.random(rows) < 0.002] = 0.0  # the raw file has a few $0 listings
    return _with_missing(rng, _raw_frame(rng, ids, features, price))


def _draw(rng: np.random.Generator, rows: int, tilt: float) -> tuple[dict[str, Any], np.ndarray]:
    """Listings' features and log-prices; ``tilt`` > 0 moves the mix as :data:`_BOROUGH_TILT`
    and :data:`_ROOM_TILT` say and adds guests."""
    borough = _choice(rng, _tilted(_BOROUGHS, _BOROUGH_TILT, tilt), rows)
    room = _choice(rng, _tilted(_ROOM_TYPES, _ROOM_TILT, tilt), rows)
    lat, lon = _coordinates(rng, borough)
    guests = _guests(rng, room, tilt)
    bedrooms = np.maximum(1, np.round(guests / 2 + rng.normal(0, 0.4, rows))).astype(int)
    bedrooms = np.where(room == "Entire home/apt", bedrooms, 1)
    beds = np.maximum(1, np.round(guests / 1.6 + rng.normal(0, 0.4, rows))).astype(int)
    baths = np.maximum(0.5, np.round((bedrooms * 0.55 + rng.normal(0.3, 0.35, rows)) * 2) / 2)
    has = {name: rng.random(rows) < p for name, (p, _) in _AMENITIES.items()}
    log_price = _log_price(rng, borough, room, guests, bedrooms, baths, lat, lon, has)
    features = {
        "borough": borough,
        "room": room,
        "lat": lat,
        "lon": lon,
        "guests": guests,
        "bedrooms": bedrooms,
        "beds": beds,
        "baths": baths,
        **{f"has:{name}": flags for name, flags in has.items()},
    }
    return features, log_price


def _later(
    seed: int,
    features: dict[str, Any],
    log_price: np.ndarray,
    ids: np.ndarray,
    month: int,
    shift: float,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The same listings ``month`` months on, one month at a time, so that month 2 is month 1
    a month later: each month reprices every listing and replaces a share by newcomers."""
    rows = len(ids)
    for step in range(1, month + 1):
        rng = np.random.default_rng([seed, step])
        log_price = log_price + rng.normal(0, _MONTH_NOISE, rows) + shift / 2
        replaced = rng.random(rows) < min(0.95, _NATURAL_CHURN + shift)
        count = int(replaced.sum())
        if not count:
            continue
        new, new_price = _draw(rng, count, tilt=10.0 * shift)
        for key, values in features.items():
            values = values.copy()
            values[replaced] = new[key]
            features[key] = values
        log_price = log_price.copy()
        log_price[replaced] = new_price + shift / 2 * step
        # Newcomers' ids continue past every id an earlier month could have used.
        ids = ids.copy()
        ids[replaced] = (rows * (1 + step) + np.arange(1, count + 1)) * 7 + 1000
    return features, log_price, ids


def _raw_frame(
    rng: np.random.Generator, ids: np.ndarray, features: dict[str, Any], price: np.ndarray
) -> pd.DataFrame:
    room = features["room"]
    has = {key.removeprefix("has:"): v for key, v in features.items() if key.startswith("has:")}
    return pd.DataFrame(
        {
            "id": ids,
            "neighbourhood_group_cleansed": features["borough"],
            "property_type": [_PROPERTY_TYPES[r] for r in room],
            "room_type": room,
            "latitude": np.round(features["lat"], 5),
            "longitude": np.round(features["lon"], 5),
            "accommodates": features["guests"],
            "bathrooms": "",
            "bathrooms_text": _bathrooms_text(rng, features["baths"], room),
            "bedrooms": features["bedrooms"].astype(str),
            "beds": features["beds"].astype(str),
            "amenities": _amenity_lists(has, len(ids)),
            "price": [f"${p:,.2f}" for p in price],
        }
    )


def _tilted(
    table: Mapping[str, tuple[float, ...]], tilt_by: Mapping[str, float], tilt: float
) -> dict[str, tuple[float, ...]]:
    if not tilt:
        return dict(table)
    return {
        name: (spec[0] * float(np.exp(tilt * tilt_by.get(name, 0.0))), *spec[1:])
        for name, spec in table.items()
    }


def _choice(rng: np.random.Generator, table: Mapping[str, tuple[float, ...]], n: int) -> np.ndarray:
    names = list(table)
    shares = np.array([v[0] for v in table.values()])
    return np.asarray(rng.choice(names, size=n, p=shares / shares.sum()), dtype=object)


def _coordinates(rng: np.random.Generator, borough: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spec = np.array([_BOROUGHS[b][1:4] for b in borough])
    lat = spec[:, 0] + rng.normal(0, 1, len(borough)) * spec[:, 2]
    lon = spec[:, 1] + rng.normal(0, 1, len(borough)) * spec[:, 2] * 1.3
    return lat, lon


def _guests(rng: np.random.Generator, room: np.ndarray, tilt: float = 0.0) -> np.ndarray:
    typical = np.array([_ROOM_TYPES[r][2] for r in room])
    return np.clip(rng.poisson(typical - 0.8 + tilt / 4) + 1, 1, 16).astype(int)


def _log_price(
    rng: np.random.Generator,
    borough: np.ndarray,
    room: np.ndarray,
    guests: np.ndarray,
    bedrooms: np.ndarray,
    baths: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    has: dict[str, np.ndarray],
) -> np.ndarray:
    distance = np.hypot(lat - _MIDTOWN[0], (lon - _MIDTOWN[1]) * 0.76)  # ~degrees of latitude
    value = (
        4.05
        + np.array([_BOROUGHS[b][4] for b in borough])
        + np.array([_ROOM_TYPES[r][1] for r in room])
        + 0.09 * np.minimum(guests, 10)
        + 0.10 * (bedrooms - 1)
        + 0.12 * (baths - 1)
        - 2.2 * np.minimum(distance, 0.25)
    )
    for name, (_, effect) in _AMENITIES.items():
        value = value + effect * has[name]
    return value + rng.normal(0, 0.28, len(borough))


def _bathrooms_text(rng: np.random.Generator, baths: np.ndarray, room: np.ndarray) -> list[str]:
    shared = (room != "Entire home/apt") & (rng.random(len(baths)) < 0.6)
    texts = []
    for count, is_shared in zip(baths, shared, strict=True):
        if count == 0.5:
            texts.append("Shared half-bath" if is_shared else "Half-bath")
            continue
        kind = "shared " if is_shared else ""
        noun = "bath" if count == 1 else "baths"
        texts.append(f"{count:g} {kind}{noun}")
    return texts


def _amenity_lists(has: dict[str, np.ndarray], rows: int) -> list[str]:
    names = list(has)
    matrix = np.column_stack([has[n] for n in names])
    return [json.dumps([n for n, on in zip(names, row, strict=True) if on]) for row in matrix]


def _with_missing(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Blank cells at roughly the rates of the 2021 NYC file."""
    out = frame.copy()
    for column, rate in (("bedrooms", 0.09), ("beds", 0.04), ("bathrooms_text", 0.002)):
        out.loc[rng.random(len(out)) < rate, column] = ""
    return out
