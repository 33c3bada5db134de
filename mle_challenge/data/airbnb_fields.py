"""Inside Airbnb's own fields: prices, bathrooms, amenities, neighbourhoods, price categories.

The forms Inside Airbnb writes these columns in, parsed with the notebook's fixes documented in
``docs/data.md``: ``"$1,250.00"`` is 1250.0, ``"Half-bath"`` is 0.5 bathrooms, amenities are the
JSON list they are, the neighbourhood falls back to ``neighbourhood_cleansed``, and $10 is Low.
Like :mod:`.parse`, they run on Arrow strings, NaN where a cell is unparseable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mle_challenge import CATEGORIES, PRICE_BINS
from mle_challenge.data.parse import arrow_text, extract_group, parse_number

MIN_PRICE = 10.0
BATHROOMS_TEXT_UNCLEAR = "bathrooms_text not one count of baths"

# The notebook's amenity flags: column name in the clean table → text searched for in
# each amenity (a substring, as the notebook's str.contains did: "HDTV" counts as TV).
AMENITY_FLAGS: dict[str, str] = {
    "TV": "TV",
    "Internet": "Internet",
    "Air_conditioning": "Air conditioning",
    "Kitchen": "Kitchen",
    "Heating": "Heating",
    "Wifi": "Wifi",
    "Elevator": "Elevator",
    "Breakfast": "Breakfast",
}
NEIGHBOURHOOD_COLUMNS = ("neighbourhood_group_cleansed", "neighbourhood_cleansed")

_PRICE_RE = r"^\s*\$?\s*(?P<whole>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?\s*$"


def parse_price(raw: pd.Series) -> pd.Series:
    """Parse ``"$1,250.00"`` → 1250.0; NaN where the text is not a price."""
    found = pc.extract_regex(arrow_text(raw), _PRICE_RE)
    whole = pc.replace_substring(pc.struct_field(found, "whole"), ",", "")
    empty = pa.scalar("", whole.type)
    fraction = pc.coalesce(pc.struct_field(found, "fraction"), empty)
    text = pc.binary_join_element_wise(whole, fraction, empty).to_pandas()
    return parse_number(pd.Series(text, index=raw.index))


# Inside Airbnb's forms: "1 bath", "1.5 shared baths", "2 private baths", "Half-bath",
# "Shared half-bath" ("bathroom(s)" is taken too). Any other text is not read for a number:
# "it may be 1 or 2 bathrooms" holds two, and picking one would be a guess.
_BATHS_RE = (
    r"(?i)^\s*(?:(?P<number>\d+(?:\.\d+)?)\s+(?:(?:shared|private)\s+)?bath(?:room)?s?"
    r"|(?P<half>(?:(?:shared|private)\s+)?half-bath(?:room)?))\s*$"
)


def parse_bathrooms_text(raw: pd.Series) -> pd.Series:
    """Parse ``"1.5 shared baths"`` → 1.5 and ``"Half-bath"`` → 0.5; NaN where the text is
    not one of those forms (see :func:`bathrooms_text_unclear`)."""
    number = parse_number(extract_group(raw, _BATHS_RE, "number").replace("", pd.NA))
    is_half = extract_group(raw, _BATHS_RE, "half").fillna("") != ""
    return number.mask(is_half, 0.5).astype("float64")


def bathrooms_text_unclear(frame: pd.DataFrame) -> pd.Series:
    """Rows whose ``bathrooms_text`` is filled but is not one count of baths: dropped with a
    reason (a number read from "1 or 2 bathrooms" would be a repair we guessed), even where
    the numeric ``bathrooms`` column has a value, since the two then disagree."""
    if "bathrooms_text" not in frame:
        return pd.Series(False, index=frame.index)
    text = frame["bathrooms_text"].astype("string").str.strip().replace("", pd.NA)
    return text.notna() & parse_bathrooms_text(text).isna()


def parse_bathrooms(frame: pd.DataFrame) -> pd.Series:
    """Bathrooms from ``bathrooms_text``, falling back to the numeric ``bathrooms`` column.

    Inside Airbnb files since 2020 leave ``bathrooms`` empty and fill ``bathrooms_text``;
    older files do the opposite, so either may be absent.
    """
    result = pd.Series(np.nan, index=frame.index, dtype="float64")
    if "bathrooms_text" in frame:
        result = parse_bathrooms_text(frame["bathrooms_text"])
    if "bathrooms" in frame:
        result = result.fillna(parse_number(frame["bathrooms"]))
    return result


def parse_amenities(raw: pd.Series) -> pd.Series:
    """Parse each amenities cell (a JSON list of strings) into a list; None where malformed.

    An empty cell means the host listed no amenities: an empty list.
    """

    def parse_one(cell: object) -> list[str] | None:
        if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell is pd.NA:
            return []
        try:
            value = json.loads(str(cell))
        except json.JSONDecodeError:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None
        return value

    return raw.astype(object).map(parse_one)


def amenity_flags(amenities: pd.Series) -> pd.DataFrame:
    """0/1 flag columns from parsed amenity lists; a missing (None) list gives 0 flags."""
    # "key in any item" is "key in the items joined by NUL", which no key contains: one Python
    # pass to join, then a vectorised substring search per flag.
    joined = amenities.map(lambda items: "\0".join(items) if items else "").astype("string")
    flags = {
        column: joined.str.contains(key, regex=False).astype("int64")
        for column, key in AMENITY_FLAGS.items()
    }
    return pd.DataFrame(flags, index=amenities.index)


# A JSON list of strings with no escape sequence, as json.loads accepts it (JSON whitespace,
# no raw control characters). Its cells' text *is* their items separated by '", "', so a key
# (which has no quote) is in an item exactly when it is in the cell's text.
_PLAIN_JSON_LIST = (
    r'^[ \t\n\r]*\[[ \t\n\r]*(?:"[^"\\\x00-\x1f]*"[ \t\n\r]*'
    r'(?:,[ \t\n\r]*"[^"\\\x00-\x1f]*"[ \t\n\r]*)*)?\][ \t\n\r]*$'
)


def parse_amenity_flags(
    raw: pd.Series, flags: Sequence[str] = tuple(AMENITY_FLAGS)
) -> tuple[pd.Series, pd.DataFrame]:
    """Amenities cells → (is a JSON list of strings, 0/1 columns of the ``flags`` named, from
    :data:`AMENITY_FLAGS`).

    The same answers as :func:`parse_amenities` then :func:`amenity_flags`, without decoding
    most cells: cells with no backslash are checked by one RE2 match and searched as text;
    only cells with escape sequences (about 15% of NYC's) are decoded with ``json.loads``.
    A malformed cell is not valid and has no flags; an empty one is a valid empty list.
    """
    text = arrow_text(raw)
    missing = pc.is_null(text).to_numpy(zero_copy_only=False)
    escaped = pc.fill_null(pc.match_substring(text, "\\"), False).to_numpy(zero_copy_only=False)
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_JSON_LIST), False)
    valid = missing | plain.to_numpy(zero_copy_only=False)
    found = {
        column: pc.fill_null(pc.match_substring(text, AMENITY_FLAGS[column]), False).to_numpy(
            zero_copy_only=False
        )
        & valid
        for column in flags
    }
    if escaped.any():
        where = np.flatnonzero(escaped)
        decoded = parse_amenities(raw.iloc[where])
        valid[where] = decoded.notna().to_numpy()
        exact = amenity_flags(decoded)
        for column in flags:
            found[column][where] = exact[column].to_numpy(dtype=bool)
    frame = pd.DataFrame({c: v.astype("int64") for c, v in found.items()}, index=raw.index)
    return pd.Series(valid, index=raw.index), frame


def resolve_neighbourhood(frame: pd.DataFrame) -> pd.Series:
    """The borough (``neighbourhood_group_cleansed``), else ``neighbourhood_cleansed``.

    Cities without borough groups leave the group column empty or omit it.
    """
    result = pd.Series(pd.NA, index=frame.index, dtype="string")
    for column in NEIGHBOURHOOD_COLUMNS:
        if column in frame:
            result = result.fillna(frame[column].astype("string").str.strip().replace("", pd.NA))
    return result


def neighbourhood_source(frame: pd.DataFrame) -> pd.Series:
    """Per row, the column :func:`resolve_neighbourhood` took its neighbourhood from (NA: none)."""
    result = pd.Series(pd.NA, index=frame.index, dtype="string")
    for column in NEIGHBOURHOOD_COLUMNS:
        if column in frame:
            filled = frame[column].astype("string").str.strip().replace("", pd.NA).notna()
            result = result.mask(result.isna() & filled, column)
    return result


def price_category(price: pd.Series, edges: Sequence[float] = PRICE_BINS) -> pd.Series:
    """Category labels from price and the upper ``edges`` of Low, Mid and High (NYC's by
    default: ≤ 90 Low, (90, 180] Mid, (180, 400] High, above Lux).

    The notebook's bins were right-closed from 10, so $10 itself got no category; it is Low
    here. Prices below $10 are not categorised (NaN) and get dropped by the cleaner.
    """
    bins = [MIN_PRICE, *map(float, edges), np.inf]
    labels = pd.cut(price, bins=bins, labels=list(CATEGORIES), right=True, include_lowest=True)
    return labels.astype("string")
