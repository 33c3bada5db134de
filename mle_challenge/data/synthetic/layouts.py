"""The columns of Inside Airbnb's raw files in other years, and the values of the columns
cleaning does not read.

The listings are the same in every layout: a layout only adds columns around the ones cleaning
reads (:data:`SYNTH_COLUMNS`) and fills them with plausible values, so that reading a file of
any year is exercised. :data:`LAYOUTS` names them as ``--layout`` takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge.data.synthetic.cities import City

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
