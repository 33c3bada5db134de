"""Deterministic synthetic listings in Inside Airbnb's raw *detailed* format: the demo data.

The rows have a city's structure (NYC by default: five boroughs with realistic coordinates,
room types, sizes, amenities) and a price that depends on them plus noise, so that a model
trained on them learns something real. ``city`` picks another geography from :data:`CITIES`:
Boston (no neighbourhood groups, no shared rooms) or Zurich (districts, prices in CHF).
Cells use the raw file's string formats (``"$1,250.00"``, ``"1.5 shared baths"``,
``'["Wifi", "TV"]'``) and include the raw file's messiness: missing bedrooms and beds,
half-baths, a few prices below $10.

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

from mle_challenge.data.synthetic.cities import CITIES, City
from mle_challenge.data.synthetic.layouts import LAYOUTS, SYNTH_COLUMNS, _laid_out

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

_NATURAL_CHURN = 0.05  # listings that leave (and as many that arrive) in a month
_MONTH_NOISE = 0.08  # month-to-month change of a listing's log-price
# How the mix of new room types tilts under `shift`: log-odds added per unit of tilt.
_ROOM_TILT = {"Entire home/apt": 1.0, "Private room": -0.5, "Shared room": -1.0}


def generate_listings(
    rows: int,
    seed: int = 0,
    *,
    month: int = 0,
    shift: float = 0.0,
    city: str = "nyc",
    layout: str = "minimal",
) -> pd.DataFrame:
    """``rows`` raw-format listings of ``city`` (a key of :data:`CITIES`) with the columns of
    ``layout`` (a key of :data:`LAYOUTS`), identical for the same arguments.

    ``month=0`` is the first scrape (and ``shift`` must be 0 there); a later ``month`` of the
    same ``(rows, seed)`` keeps most listings' ids and features and reprices them. The layout
    changes only the columns: the listings, and the clean table, are the same in every one.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1; got {rows}")
    if month < 0:
        raise ValueError(f"month must be 0 (the first scrape) or later; got {month}")
    if not 0.0 <= shift <= 0.9:
        raise ValueError(f"shift must be between 0 and 0.9; got {shift}")
    if month == 0 and shift:
        raise ValueError("shift applies to a later month: pass month=1 or more with it")
    if city not in CITIES:
        raise ValueError(f"city must be one of {', '.join(CITIES)}; got {city!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    spec = CITIES[city]
    rng = np.random.default_rng(seed)
    features, log_price = _draw(rng, spec, rows, tilt=0.0)
    ids = np.arange(1, rows + 1) * 7 + 1000
    if month:
        features, log_price, ids = _later(seed, spec, features, log_price, ids, month, shift)
    price = np.round(np.exp(log_price))
    price[rng.random(rows) < 0.002] = 0.0  # the raw file has a few $0 listings
    frame = _with_missing(rng, _raw_frame(rng, spec, ids, features, price))
    if layout == "minimal":
        return frame[_columns(spec)]
    # Its own generator, so that the listings' columns are the same in every layout.
    extra = np.random.default_rng([seed, month, 1])
    return _laid_out(frame, LAYOUTS[layout], spec, features["baths"], price, extra, month)


def _columns(city: City) -> list[str]:
    """The columns cleaning reads; ``neighbourhood_cleansed`` only where the group column is
    empty (NYC's demo files never had it, and cleaning needs it only then)."""
    if city.groups:
        return list(SYNTH_COLUMNS)
    at = SYNTH_COLUMNS.index("neighbourhood_group_cleansed") + 1
    return [*SYNTH_COLUMNS[:at], "neighbourhood_cleansed", *SYNTH_COLUMNS[at:]]


def _draw(
    rng: np.random.Generator, city: City, rows: int, tilt: float
) -> tuple[dict[str, Any], np.ndarray]:
    """Listings' features and log-prices; ``tilt`` > 0 moves the mix as the city's
    ``area_tilt`` and :data:`_ROOM_TILT` say and adds guests."""
    area = _choice(rng, _tilted(city.areas, city.area_tilt, tilt), rows)
    room = _choice(rng, _tilted(city.room_types, _ROOM_TILT, tilt), rows)
    lat, lon = _coordinates(rng, city, area)
    guests = _guests(rng, city, room, tilt)
    bedrooms = np.maximum(1, np.round(guests / 2 + rng.normal(0, 0.4, rows))).astype(int)
    bedrooms = np.where(room == "Entire home/apt", bedrooms, 1)
    beds = np.maximum(1, np.round(guests / 1.6 + rng.normal(0, 0.4, rows))).astype(int)
    baths = np.maximum(0.5, np.round((bedrooms * 0.55 + rng.normal(0.3, 0.35, rows)) * 2) / 2)
    has = {name: rng.random(rows) < p for name, (p, _) in _AMENITIES.items()}
    log_price = _log_price(rng, city, area, room, guests, bedrooms, baths, lat, lon, has)
    features = {
        "area": area,
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
    city: City,
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
        new, new_price = _draw(rng, city, count, tilt=10.0 * shift)
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
    rng: np.random.Generator,
    city: City,
    ids: np.ndarray,
    features: dict[str, Any],
    price: np.ndarray,
) -> pd.DataFrame:
    room = features["room"]
    area, lat, lon = features["area"], features["lat"], features["lon"]
    group = area if city.groups else np.full(len(ids), "", dtype=object)
    has = {key.removeprefix("has:"): v for key, v in features.items() if key.startswith("has:")}
    return pd.DataFrame(
        {
            "id": ids,
            "neighbourhood_group_cleansed": group,
            "neighbourhood_cleansed": _nearest_place(city, area, lat, lon),
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


def _coordinates(
    rng: np.random.Generator, city: City, area: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    spec = np.array([city.areas[a][1:4] for a in area])
    lat = spec[:, 0] + rng.normal(0, 1, len(area)) * spec[:, 2]
    lon = spec[:, 1] + rng.normal(0, 1, len(area)) * spec[:, 2] * city.lon_spread
    if city.clip:
        south, north, west, east = city.box
        lat, lon = np.clip(lat, south, north), np.clip(lon, west, east)
    return lat, lon


def _nearest_place(city: City, area: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Each listing's ``neighbourhood_cleansed``: the nearest of its area's places, or the area
    itself in a city without groups. A function of the coordinates, so a listing keeps it from
    month to month, and it draws nothing (the other columns stay as they were)."""
    names = np.asarray(area, dtype=object).copy()
    for group, places in city.places.items():
        inside = area == group
        spots = np.array([(p_lat, p_lon) for _, p_lat, p_lon in places])
        d_lat = lat[inside, None] - spots[None, :, 0]
        d_lon = (lon[inside, None] - spots[None, :, 1]) * city.lon_scale
        nearest = np.argmin(np.hypot(d_lat, d_lon), axis=1)
        names[inside] = np.array([name for name, _, _ in places], dtype=object)[nearest]
    return names


def _guests(
    rng: np.random.Generator, city: City, room: np.ndarray, tilt: float = 0.0
) -> np.ndarray:
    typical = np.array([city.room_types[r][2] for r in room])
    return np.clip(rng.poisson(typical - 0.8 + tilt / 4) + 1, 1, 16).astype(int)


def _log_price(
    rng: np.random.Generator,
    city: City,
    area: np.ndarray,
    room: np.ndarray,
    guests: np.ndarray,
    bedrooms: np.ndarray,
    baths: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    has: dict[str, np.ndarray],
) -> np.ndarray:
    centre_lat, centre_lon = city.centre
    distance = np.hypot(lat - centre_lat, (lon - centre_lon) * city.lon_scale)  # ~degrees
    value = (
        city.base_log_price
        + np.array([city.areas[a][4] for a in area])
        + np.array([city.room_types[r][1] for r in room])
        + 0.09 * np.minimum(guests, 10)
        + 0.10 * (bedrooms - 1)
        + 0.12 * (baths - 1)
        - 2.2 * np.minimum(distance, 0.25)
    )
    for name, (_, effect) in _AMENITIES.items():
        value = value + effect * has[name]
    return value + rng.normal(0, 0.28, len(area))


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
