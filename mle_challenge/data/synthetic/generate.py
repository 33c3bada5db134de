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
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

# area: (share of listings, centre latitude, centre longitude, spread in degrees, log-price)
_Areas = dict[str, tuple[float, float, float, float, float]]
# room type: (share, log-price effect, typical guests)
_RoomTypes = dict[str, tuple[float, float, float]]
# a named place inside an area: (name, latitude, longitude); a listing takes the nearest
_Places = dict[str, tuple[tuple[str, float, float], ...]]


@dataclass(frozen=True)
class City:
    """One city's geography and market, as the generator draws it.

    ``areas`` are what a listing is drawn in. Where ``groups`` is true they are the city's
    neighbourhood groups (NYC's boroughs), written to ``neighbourhood_group_cleansed``, and
    ``neighbourhood_cleansed`` is the nearest of the area's ``places``; otherwise (Boston)
    the areas are the neighbourhoods themselves and the group column is empty, as in the
    real files of cities without groups.
    """

    name: str  # as in the address of the real listings, e.g. "Boston"
    region: str  # state or canton, for the free-text location columns
    country: str
    areas: _Areas
    room_types: _RoomTypes
    groups: bool
    places: _Places
    centre: tuple[float, float]  # where prices peak (latitude, longitude)
    lon_scale: float  # degrees of longitude to degrees of latitude: cos(latitude)
    lon_spread: float  # an area's spread in longitude, relative to its spread in latitude
    base_log_price: float  # in the local currency, written with "$" as Inside Airbnb does
    box: tuple[float, float, float, float]  # south, north, west, east
    clip: bool  # keep coordinates inside ``box`` (NYC's never were: see _NYC)
    area_tilt: Mapping[str, float]  # log-odds added per unit of `shift` tilt to new listings


_NYC_ROOM_TYPES: _RoomTypes = {
    "Entire home/apt": (0.51, 0.55, 3.2),
    "Private room": (0.465, 0.0, 1.7),
    "Shared room": (0.016, -0.55, 1.3),
    "Hotel room": (0.009, 0.65, 2.2),
}
# NYC is the demo data of every trained model and test: its numbers must not change (a test
# pins its output by hash). Its coordinates are unclipped normal draws, so about 1% fall just
# outside the city (mostly east of Queens); cleaning keeps them, as it keeps such real rows.
_NYC = City(
    name="New York",
    region="New York",
    country="United States",
    areas={
        "Manhattan": (0.40, 40.7685, -73.9730, 0.030, 0.45),
        "Brooklyn": (0.41, 40.6840, -73.9550, 0.035, 0.15),
        "Queens": (0.15, 40.7300, -73.8400, 0.045, 0.00),
        "Bronx": (0.03, 40.8450, -73.8650, 0.030, -0.10),
        "Staten Island": (0.01, 40.5900, -74.1100, 0.030, -0.05),
    },
    room_types=_NYC_ROOM_TYPES,
    groups=True,
    places={
        "Manhattan": (
            ("Midtown", 40.7549, -73.9840),
            ("Hell's Kitchen", 40.7638, -73.9918),
            ("Upper West Side", 40.7870, -73.9754),
            ("Upper East Side", 40.7736, -73.9566),
            ("Harlem", 40.8116, -73.9465),
            ("Washington Heights", 40.8417, -73.9394),
            ("Chelsea", 40.7465, -74.0014),
            ("East Village", 40.7265, -73.9815),
            ("Lower East Side", 40.7150, -73.9843),
            ("Financial District", 40.7075, -74.0113),
        ),
        "Brooklyn": (
            ("Williamsburg", 40.7081, -73.9571),
            ("Greenpoint", 40.7304, -73.9515),
            ("Bushwick", 40.6958, -73.9171),
            ("Bedford-Stuyvesant", 40.6872, -73.9418),
            ("Crown Heights", 40.6694, -73.9422),
            ("Park Slope", 40.6710, -73.9814),
            ("Flatbush", 40.6415, -73.9594),
        ),
        "Queens": (
            ("Astoria", 40.7644, -73.9235),
            ("Long Island City", 40.7447, -73.9485),
            ("Ridgewood", 40.7043, -73.9018),
            ("Jackson Heights", 40.7557, -73.8831),
            ("Flushing", 40.7675, -73.8331),
            ("Jamaica", 40.7027, -73.7890),
        ),
        "Bronx": (
            ("Mott Haven", 40.8091, -73.9229),
            ("Concourse", 40.8340, -73.9180),
            ("Fordham", 40.8615, -73.8900),
            ("Kingsbridge", 40.8834, -73.9051),
        ),
        "Staten Island": (
            ("St. George", 40.6437, -74.0736),
            ("Tompkinsville", 40.6366, -74.0772),
            ("Great Kills", 40.5543, -74.1563),
        ),
    },
    centre=(40.7549, -73.9840),  # Midtown
    lon_scale=0.76,
    lon_spread=1.3,
    base_log_price=4.05,
    box=(40.49, 40.92, -74.26, -73.69),
    clip=False,
    area_tilt={"Manhattan": 1.0, "Brooklyn": 0.0, "Queens": -0.5, "Bronx": -0.5},
)
# Boston's files leave neighbourhood_group_cleansed empty: its neighbourhoods are the areas.
# Pricier than NYC, mostly entire homes, and no shared rooms at all.
_BOSTON = City(
    name="Boston",
    region="Massachusetts",
    country="United States",
    areas={
        "Back Bay": (0.08, 42.3503, -71.0810, 0.005, 0.35),
        "Beacon Hill": (0.05, 42.3588, -71.0707, 0.004, 0.35),
        "Downtown": (0.09, 42.3555, -71.0605, 0.004, 0.35),
        "South End": (0.08, 42.3414, -71.0752, 0.005, 0.25),
        "Charlestown": (0.04, 42.3782, -71.0602, 0.004, 0.20),
        "South Boston": (0.06, 42.3381, -71.0476, 0.006, 0.20),
        "Fenway": (0.07, 42.3429, -71.1003, 0.005, 0.20),
        "East Boston": (0.08, 42.3751, -71.0392, 0.007, 0.00),
        "Jamaica Plain": (0.07, 42.3097, -71.1151, 0.009, 0.00),
        "Allston": (0.06, 42.3539, -71.1337, 0.005, -0.10),
        "Brighton": (0.07, 42.3490, -71.1530, 0.006, -0.10),
        "Roxbury": (0.07, 42.3152, -71.0914, 0.009, -0.15),
        "Dorchester": (0.13, 42.3016, -71.0676, 0.014, -0.15),
    },
    room_types={
        "Entire home/apt": (0.68, 0.55, 3.4),
        "Private room": (0.30, 0.0, 1.7),
        "Hotel room": (0.02, 0.65, 2.2),
    },
    groups=False,
    places={},
    centre=(42.3550, -71.0700),  # Boston Common
    lon_scale=0.74,
    lon_spread=1.35,
    base_log_price=4.15,
    box=(42.23, 42.40, -71.17, -70.99),
    clip=True,
    area_tilt={"Back Bay": 1.0, "Downtown": 1.0, "Dorchester": -0.5, "Roxbury": -0.5},
)
# Zurich's files group its quarters into twelve districts (Kreis), and its prices are in CHF,
# about 1.5 times NYC's numbers, written with "$" all the same: Inside Airbnb writes every
# currency so, and a price category of Zurich is a price band in francs.
_ZURICH = City(
    name="Zurich",
    region="Zurich",
    country="Switzerland",
    areas={
        "Kreis 1": (0.10, 47.3717, 8.5423, 0.004, 0.35),
        "Kreis 2": (0.08, 47.3480, 8.5300, 0.008, 0.10),
        "Kreis 3": (0.10, 47.3680, 8.5150, 0.006, 0.00),
        "Kreis 4": (0.16, 47.3770, 8.5230, 0.005, 0.05),
        "Kreis 5": (0.10, 47.3880, 8.5220, 0.005, 0.10),
        "Kreis 6": (0.08, 47.3870, 8.5450, 0.005, 0.05),
        "Kreis 7": (0.07, 47.3650, 8.5750, 0.008, 0.15),
        "Kreis 8": (0.07, 47.3560, 8.5550, 0.005, 0.20),
        "Kreis 9": (0.07, 47.3820, 8.4850, 0.007, -0.10),
        "Kreis 10": (0.07, 47.3980, 8.5150, 0.007, -0.05),
        "Kreis 11": (0.07, 47.4180, 8.5300, 0.008, -0.10),
        "Kreis 12": (0.03, 47.4030, 8.5750, 0.005, -0.15),
    },
    room_types={
        "Entire home/apt": (0.55, 0.55, 3.0),
        "Private room": (0.42, 0.0, 1.6),
        "Shared room": (0.01, -0.55, 1.3),
        "Hotel room": (0.02, 0.65, 2.2),
    },
    groups=True,
    places={
        "Kreis 1": (
            ("Rathaus", 47.3722, 8.5440),
            ("Lindenhof", 47.3730, 8.5405),
            ("City", 47.3690, 8.5390),
            ("Hochschulen", 47.3765, 8.5480),
        ),
        "Kreis 2": (
            ("Enge", 47.3620, 8.5310),
            ("Wollishofen", 47.3440, 8.5300),
            ("Leimbach", 47.3300, 8.5130),
        ),
        "Kreis 3": (
            ("Alt-Wiedikon", 47.3690, 8.5210),
            ("Friesenberg", 47.3600, 8.5040),
            ("Sihlfeld", 47.3720, 8.5130),
        ),
        "Kreis 4": (
            ("Werd", 47.3730, 8.5310),
            ("Langstrasse", 47.3790, 8.5280),
            ("Hard", 47.3850, 8.5160),
        ),
        "Kreis 5": (("Gewerbeschule", 47.3840, 8.5310), ("Escher Wyss", 47.3900, 8.5150)),
        "Kreis 6": (("Unterstrass", 47.3900, 8.5400), ("Oberstrass", 47.3850, 8.5520)),
        "Kreis 7": (
            ("Fluntern", 47.3780, 8.5640),
            ("Hottingen", 47.3690, 8.5620),
            ("Hirslanden", 47.3620, 8.5720),
            ("Witikon", 47.3580, 8.5920),
        ),
        "Kreis 8": (
            ("Seefeld", 47.3570, 8.5520),
            ("Mühlebach", 47.3630, 8.5500),
            ("Weinegg", 47.3530, 8.5630),
        ),
        "Kreis 9": (("Albisrieden", 47.3750, 8.4870), ("Altstetten", 47.3890, 8.4860)),
        "Kreis 10": (("Höngg", 47.4020, 8.4980), ("Wipkingen", 47.3930, 8.5290)),
        "Kreis 11": (
            ("Affoltern", 47.4200, 8.5090),
            ("Oerlikon", 47.4110, 8.5440),
            ("Seebach", 47.4240, 8.5430),
        ),
        "Kreis 12": (
            ("Saatlen", 47.4070, 8.5650),
            ("Schwamendingen-Mitte", 47.4040, 8.5720),
            ("Hirzenbach", 47.4010, 8.5860),
        ),
    },
    centre=(47.3697, 8.5392),  # Paradeplatz
    lon_scale=0.68,
    lon_spread=1.47,
    base_log_price=4.05 + float(np.log(1.5)),
    box=(47.32, 47.44, 8.45, 8.62),
    clip=True,
    area_tilt={"Kreis 1": 1.0, "Kreis 4": 0.5, "Kreis 11": -0.5, "Kreis 12": -0.5},
)
CITIES: dict[str, City] = {"nyc": _NYC, "boston": _BOSTON, "zurich": _ZURICH}

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

# The columns of NYC's 2021-12 detailed listings.csv, in order (the real file's header; its
# sample is described in docs/data.md): the other layouts are this one with columns added.
_COLUMNS_2021: tuple[str, ...] = (
    "id", "listing_url", "scrape_id", "last_scraped", "name", "description",
    "neighborhood_overview", "picture_url", "host_id", "host_url", "host_name", "host_since",
    "host_location", "host_about", "host_response_time", "host_response_rate",
    "host_acceptance_rate", "host_is_superhost", "host_thumbnail_url", "host_picture_url",
    "host_neighbourhood", "host_listings_count", "host_total_listings_count",
    "host_verifications", "host_has_profile_pic", "host_identity_verified", "neighbourhood",
    "neighbourhood_cleansed", "neighbourhood_group_cleansed", "latitude", "longitude",
    "property_type", "room_type", "accommodates", "bathrooms", "bathrooms_text", "bedrooms",
    "beds", "amenities", "price", "minimum_nights", "maximum_nights", "minimum_minimum_nights",
    "maximum_minimum_nights", "minimum_maximum_nights", "maximum_maximum_nights",
    "minimum_nights_avg_ntm", "maximum_nights_avg_ntm", "calendar_updated", "has_availability",
    "availability_30", "availability_60", "availability_90", "availability_365",
    "calendar_last_scraped", "number_of_reviews", "number_of_reviews_ltm",
    "number_of_reviews_l30d", "first_review", "last_review", "review_scores_rating",
    "review_scores_accuracy", "review_scores_cleanliness", "review_scores_checkin",
    "review_scores_communication", "review_scores_location", "review_scores_value", "license",
    "instant_bookable", "calculated_host_listings_count",
    "calculated_host_listings_count_entire_homes", "calculated_host_listings_count_private_rooms",
    "calculated_host_listings_count_shared_rooms", "reviews_per_month",
)  # fmt: skip


def _inserted(columns: tuple[str, ...], after: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """``columns`` with ``after[c]`` inserted after each column ``c``."""
    return tuple(name for column in columns for name in (column, *after.get(column, ())))


@dataclass(frozen=True)
class Layout:
    """Which columns a raw file has, in order, and how it fills them."""

    columns: tuple[str, ...]
    bathrooms_filled: bool  # `bathrooms` holds the number beside `bathrooms_text`, else empty
    scraped: str  # the date of month 0's scrape, for the date columns
    about: str


_COLUMNS_2023 = _inserted(_COLUMNS_2021, {"last_scraped": ("source",)})
_COLUMNS_2025 = _inserted(
    _COLUMNS_2023,
    {
        "number_of_reviews_l30d": (
            "availability_eoy",
            "number_of_reviews_ly",
            "estimated_occupancy_l365d",
            "estimated_revenue_l365d",
        )
    },
)
# Before 2021 files had free-text and location columns since removed, and fees as prices. The
# real files had more (about 106) and no bathrooms_text; 90 keeps bathrooms_text so that both
# bathroom columns are exercised, with price-formatted columns next to `price`.
_COLUMNS_OLDER = _inserted(
    _COLUMNS_2021,
    {
        "name": ("summary", "space"),
        "neighborhood_overview": ("notes", "transit"),
        "host_identity_verified": ("street",),
        "neighbourhood_group_cleansed": (
            "city",
            "state",
            "zipcode",
            "market",
            "country_code",
            "country",
        ),
        "amenities": ("square_feet",),
        "price": ("weekly_price", "monthly_price", "security_deposit", "cleaning_fee"),
    },
)
# Named by column count, as `--layout` takes them; "minimal" is the demo data's own.
LAYOUTS: dict[str, Layout] = {
    # NYC's demo data: the columns cleaning reads (and neighbourhood_cleansed where needed)
    "minimal": Layout(SYNTH_COLUMNS, False, "2021-12-05", "only the columns cleaning reads"),
    "74": Layout(_COLUMNS_2021, False, "2021-12-05", "2021-22: bathrooms empty"),
    "75": Layout(_COLUMNS_2023, False, "2023-03-06", "2022-24: a `source` column"),
    "79": Layout(
        _COLUMNS_2025,
        True,
        "2025-03-01",
        "2025: estimated occupancy and revenue columns, bathrooms filled",
    ),
    "90": Layout(
        _COLUMNS_OLDER,
        True,
        "2019-12-04",
        "older: free text, address and fee columns, bathrooms filled",
    ),
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


# --- the columns cleaning does not read, for the full layouts ---


def _laid_out(
    frame: pd.DataFrame,
    layout: Layout,
    city: City,
    baths: np.ndarray,
    price: np.ndarray,
    rng: np.random.Generator,
    month: int,
) -> pd.DataFrame:
    """``frame`` with ``layout``'s columns, the ones it lacks filled with plausible values
    (free text with commas, quotes and line breaks, as real files have) or left empty."""
    scraped = date.fromisoformat(layout.scraped) + timedelta(days=30 * month)
    values = _listing_columns(frame, city, rng, scraped) | _stay_columns(rng, len(frame), price)
    values |= _review_columns(rng, len(frame), scraped) | _older_columns(rng, city, price)
    if layout.bathrooms_filled:  # blank where the text is, so both say the same
        number = [f"{b:.1f}" for b in baths]
        frame = frame.assign(bathrooms=np.where(frame["bathrooms_text"] != "", number, ""))
    return pd.DataFrame({c: frame[c] if c in frame else values.get(c, "") for c in layout.columns})


def _listing_columns(
    frame: pd.DataFrame, city: City, rng: np.random.Generator, scraped: date
) -> dict[str, Any]:
    rows, ids, place = len(frame), frame["id"], frame["neighbourhood_cleansed"]
    where = f"{city.name}, {city.region}, {city.country}"
    names = [f"{r} in {p}, {city.name}" for r, p in zip(frame["room_type"], place, strict=True)]
    quoted = rng.random(rows) < 0.2
    host = rng.integers(10_000, 400_000_000, rows)
    return {
        "listing_url": [f"https://www.airbnb.com/rooms/{i}" for i in ids],
        "scrape_id": scraped.strftime("%Y%m%d") + "000000",
        "last_scraped": scraped.isoformat(),
        "calendar_last_scraped": scraped.isoformat(),
        "source": np.where(rng.random(rows) < 0.8, "city scrape", "previous scrape"),
        "name": [f'"Sunny" {n}' if q else n for n, q in zip(names, quoted, strict=True)],
        "description": np.where(
            rng.random(rows) < 0.3,
            'Bright, quiet room.\nTwo minutes from the station, "really".',
            "Bright, quiet room.<br /><br />Check-in after 3pm.",
        ),
        "neighborhood_overview": [f"{p} is lively, with cafés and parks.\n" for p in place],
        "host_id": host,
        "host_url": [f"https://www.airbnb.com/users/show/{h}" for h in host],
        "host_name": rng.choice(["Anna", "Ben", "Chloé", "Dev", "Eli"], rows),
        "host_location": where,
        "host_neighbourhood": place,
        "host_listings_count": rng.integers(1, 5, rows),
        "host_verifications": "['email', 'phone']",
        "host_is_superhost": rng.choice(["t", "f"], rows),
        "neighbourhood": np.where(rng.random(rows) < 0.6, where, ""),
    }


def _stay_columns(rng: np.random.Generator, rows: int, price: np.ndarray) -> dict[str, Any]:
    nights = rng.choice([1, 2, 3, 30], rows)
    occupancy = rng.integers(0, 255, rows)
    return {
        "minimum_nights": nights,
        "maximum_nights": 1125,
        "has_availability": "t",
        "availability_30": rng.integers(0, 31, rows),
        "availability_365": rng.integers(0, 366, rows),
        "availability_eoy": rng.integers(0, 300, rows),
        "estimated_occupancy_l365d": occupancy,
        "estimated_revenue_l365d": (occupancy * price).astype(int),
        "instant_bookable": rng.choice(["t", "f"], rows),
        "license": np.where(rng.random(rows) < 0.4, "STR-123456", ""),
    }


def _review_columns(rng: np.random.Generator, rows: int, scraped: date) -> dict[str, Any]:
    reviews = rng.poisson(20, rows)
    reviewed = reviews > 0
    first = [(scraped - timedelta(days=int(d))).isoformat() for d in rng.integers(30, 3000, rows)]
    rating = [f"{r:.2f}" for r in rng.uniform(3.5, 5.0, rows)]
    return {
        "number_of_reviews": reviews,
        "number_of_reviews_ltm": np.minimum(reviews, rng.poisson(5, rows)),
        "number_of_reviews_ly": np.minimum(reviews, rng.poisson(5, rows)),
        "first_review": np.where(reviewed, first, ""),
        "review_scores_rating": np.where(reviewed, rating, ""),
        "reviews_per_month": np.where(reviewed, [f"{r:.2f}" for r in reviews / 24], ""),
    }


def _older_columns(rng: np.random.Generator, city: City, price: np.ndarray) -> dict[str, Any]:
    """The pre-2021 columns: address parts, and fees written as prices (a reader that took
    the wrong ``price`` column would notice)."""
    fee = np.where(rng.random(len(price)) < 0.7, [f"${p / 3:,.2f}" for p in price], "")
    return {
        "summary": "Bright, quiet room, near everything.",
        "transit": "Subway at the corner.\nBus 20 m away.",
        "street": f"{city.name}, {city.region}, {city.country}",
        "city": city.name,
        "state": city.region,
        "market": city.name,
        "country": city.country,
        "weekly_price": [f"${p * 6.5:,.2f}" for p in price],
        "monthly_price": [f"${p * 25:,.2f}" for p in price],
        "cleaning_fee": fee,
    }
