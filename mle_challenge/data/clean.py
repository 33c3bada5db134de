"""Validate and clean raw Inside Airbnb *detailed* listings into the table the model trains on.

This reproduces the data scientists' notebook (``01-exploratory-data-analysis``) with
deliberate fixes, each documented in ``docs/data.md``:

* prices with a thousands separator (``"$1,250.00"``) parse to 1250.0, not 1;
* ``"Half-bath"`` / ``"Shared half-bath"`` give 0.5 bathrooms instead of dropping the row;
* amenities are parsed as the JSON list they are;
* the neighbourhood falls back to ``neighbourhood_cleansed`` when the borough column is absent;
* a price of exactly $10 is Low (the notebook's right-closed bins gave it no category).

Every dropped row is counted under one reason (the first that applies) with examples:
nothing is lost silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mle_challenge import CATEGORIES, PRICE_BINS
from mle_challenge.data.sources import BadRow, modified_at, read_csv_strings
from mle_challenge.errors import DataValidationError

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

REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "room_type",
    "latitude",
    "longitude",
    "accommodates",
    "bedrooms",
    "beds",
    "amenities",
    "price",
)
NEIGHBOURHOOD_COLUMNS = ("neighbourhood_group_cleansed", "neighbourhood_cleansed")
BATHROOM_COLUMNS = ("bathrooms_text", "bathrooms")
OPTIONAL_COLUMNS = ("property_type",)
RAW_COLUMNS: frozenset[str] = frozenset(
    REQUIRED_COLUMNS + NEIGHBOURHOOD_COLUMNS + BATHROOM_COLUMNS + OPTIONAL_COLUMNS
)

CLEAN_COLUMNS: tuple[str, ...] = (
    "id",
    "neighbourhood",
    "property_type",
    "room_type",
    "latitude",
    "longitude",
    "accommodates",
    "bathrooms",
    "bedrooms",
    "beds",
    "price",
    "category",
    "category_code",
    *AMENITY_FLAGS,
)

_EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class CleanReport:
    """What cleaning did: counts by drop reason, with a few example rows for each."""

    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    # Which raw column named each kept row's neighbourhood: the group where filled, else the
    # cleansed neighbourhood (cities without borough groups leave it empty).
    neighbourhood_source: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return self.rows_read - self.rows_kept

    def format(self) -> str:
        """A human-readable summary, as printed by ``mle-challenge data clean``."""
        lines = [
            f"rows read:    {self.rows_read:>8,}",
            f"rows kept:    {self.rows_kept:>8,}",
            f"rows dropped: {self.rows_dropped:>8,}",
        ]
        for reason, count in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count:>8,}  {reason}")
            for example in self.examples.get(reason, []):
                lines.append(f"            e.g. {example}")
        lines.append("categories:")
        for name in CATEGORIES:
            lines.append(f"  {name:<5} {self.categories.get(name, 0):>8,}")
        return "\n".join(lines)


@dataclass(frozen=True)
class CleanResult:
    table: pd.DataFrame
    report: CleanReport
    reasons: pd.Series | None = None  # per input row (in order): why it was dropped, or NA


# --- small pure parsers: each takes raw strings and returns values, NaN where unparseable ---
# They run on Arrow strings (RE2 regexes, Arrow casts): no Python loop over rows, so cleaning
# keeps up with batch prediction (about 2 µs a row instead of 12).


def _arrow_text(raw: pd.Series) -> pa.Array:
    """``raw`` as an Arrow string array (nulls where missing), without a Python loop."""
    values = raw.astype("string[pyarrow]").array
    return pa.array(values, type=pa.large_string()) if len(values) else pa.array([], pa.string())


def parse_number(raw: pd.Series) -> pd.Series:
    """Text → float64; NaN where missing or not a number (as ``pd.to_numeric`` decides)."""
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64")
    try:  # Arrow's cast is many times faster, but all or nothing: any bad cell falls back.
        values = pc.cast(_arrow_text(raw), pa.float64()).to_numpy(zero_copy_only=False)
        return pd.Series(values, index=raw.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(raw, errors="coerce").astype("float64")


# A listing id as text: an optional sign, digits, and at most a zero fraction ("8.0", as a
# float column writes it). Anything else (empty, "abc", "7.5", "1e3") is no id.
_ID_RE = r"^\s*(?P<sign>[+-]?)0*(?P<digits>\d+?)(?:\.0*)?\s*$"
_INT64_MAX = str(np.iinfo(np.int64).max)


def parse_id(raw: pd.Series) -> pd.Series:
    """Text → listing ids: int64 when every cell is one, else nullable Int64 with NA where a
    cell is missing, not a whole number, or outside int64 (``99999999999999999999999``).

    Recent ids have 19 digits: they never go through float64, which would round them, and one
    bad cell leaves the others exact.
    """
    if pd.api.types.is_integer_dtype(raw.dtype) and not raw.hasnans:
        return raw.astype("int64")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        number = raw.astype("float64")
        whole = (number % 1 == 0) & (number.abs() < 2.0**63)
        return number.where(whole).astype("Int64")
    text = _arrow_text(raw)
    try:
        return pd.Series(pc.cast(text, pa.int64()).to_numpy(), index=raw.index, dtype="int64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        pass  # a missing or bad cell somewhere (to_numpy refuses nulls): cell by cell below
    found = pc.extract_regex(text, _ID_RE)
    digits, negative = (
        pc.struct_field(found, "digits"),
        pc.equal(pc.struct_field(found, "sign"), "-"),
    )
    length = pc.utf8_length(digits)
    fits = pc.or_(
        pc.less(length, len(_INT64_MAX)),
        pc.and_(pc.equal(length, len(_INT64_MAX)), pc.less_equal(digits, _INT64_MAX)),
    )
    magnitude = pc.cast(pc.if_else(fits, digits, pa.scalar(None, digits.type)), pa.int64())
    ids = pc.if_else(negative, pc.negate(magnitude), magnitude)
    return pd.Series(ids.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), index=raw.index)


def _extract(raw: pd.Series, pattern: str, group: str) -> pd.Series:
    """The named ``group`` of ``pattern`` (RE2 syntax) matched in each cell; NA where none."""
    found = pc.struct_field(pc.extract_regex(_arrow_text(raw), pattern), group)
    return pd.Series(found.to_pandas(types_mapper=pd.ArrowDtype), index=raw.index).astype("string")


_PRICE_RE = r"^\s*\$?\s*(?P<whole>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?\s*$"


def parse_price(raw: pd.Series) -> pd.Series:
    """Parse ``"$1,250.00"`` → 1250.0; NaN where the text is not a price."""
    found = pc.extract_regex(_arrow_text(raw), _PRICE_RE)
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
    number = parse_number(_extract(raw, _BATHS_RE, "number").replace("", pd.NA))
    is_half = _extract(raw, _BATHS_RE, "half").fillna("") != ""
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
    text = _arrow_text(raw)
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


# --- validation and the whole cleaning step ---


def check_columns(columns: Sequence[str], source: str, labelled: bool = True) -> None:
    """Fail at once, naming every missing column, when ``columns`` cannot be cleaned.

    ``labelled=False`` (listings to predict) does not need ``price``.
    """
    present = set(columns)
    required = REQUIRED_COLUMNS if labelled else tuple(c for c in REQUIRED_COLUMNS if c != "price")
    missing = [c for c in required if c not in present]
    for group in (NEIGHBOURHOOD_COLUMNS, BATHROOM_COLUMNS):
        if not present.intersection(group):
            missing.append(" or ".join(group))
    if missing:
        raise DataValidationError(
            f"{source} is missing required column(s): {', '.join(missing)}. "
            "Expected Inside Airbnb's detailed listings.csv (the 'listings.csv.gz' file, "
            "not the summary 'listings.csv')."
        )


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return parse_number(frame[column])


def first_reasons(checks: Sequence[tuple[str, Any]], index: pd.Index) -> pd.Series:
    """For each row, the first reason whose mask is True; NA where the row is fine.

    Masks may hold NA (counted as False). One integer array carries the answer until the
    end, so only refused rows ever get a string.
    """
    first = np.zeros(len(index), dtype=np.intp)
    for number, (_, mask) in enumerate(checks, start=1):
        hit = pd.Series(mask, copy=False).fillna(False).to_numpy(dtype=bool)
        first[(first == 0) & hit] = number
    names = np.array([None, *(name for name, _ in checks)], dtype=object)
    return pd.Series(names[first], index=index, dtype="string")


def _missing_or_bad(raw: pd.Series, parsed: pd.Series, name: str) -> list[tuple[str, pd.Series]]:
    missing = raw.isna()
    return [(f"missing {name}", missing), (f"unparseable {name}", parsed.isna() & ~missing)]


def clean_listings(
    raw: pd.DataFrame,
    source: str = "listings",
    *,
    labelled: bool = True,
    flags: Sequence[str] = tuple(AMENITY_FLAGS),
    malformed: Sequence[BadRow] = (),
) -> CleanResult:
    """Validate and clean raw listings (all cells as strings) into the training table.

    ``labelled=False`` cleans listings to predict: no price is needed, and a missing count
    (bedrooms, beds, bathrooms) stays missing, since the model handles it, instead of
    dropping the row as training does. ``flags`` limits the amenity flag columns to those
    named (batch prediction needs only the API's three). ``malformed``: the file's lines
    with the wrong number of fields, which the reader set aside; they are counted as read
    and dropped, under their reason. Raises :class:`DataValidationError`
    when a required column is missing or, for training, when nothing is left.
    """
    check_columns(list(raw.columns), source, labelled)
    frame = raw.reset_index(drop=True)

    ids = parse_id(frame["id"])
    no_price = pd.Series(pd.NA, index=frame.index, dtype="string")
    price = parse_price(frame["price"] if labelled else no_price)
    bathrooms = parse_bathrooms(frame)
    amenities_ok, flag_columns = parse_amenity_flags(frame["amenities"], flags)
    neighbourhood = resolve_neighbourhood(frame)
    room_type = frame["room_type"].astype("string").str.strip().replace("", pd.NA)
    numbers = {c: _numeric(frame, c) for c in ("latitude", "longitude", "accommodates")}
    numbers |= {c: _numeric(frame, c) for c in ("bedrooms", "beds")}
    bath_raw = _first_present(frame, BATHROOM_COLUMNS)

    checks: list[tuple[str, pd.Series]] = []
    checks += _missing_or_bad(frame["id"], ids, "id")
    checks.append(("duplicate id", ids.duplicated(keep="first") & ids.notna()))
    if labelled:
        checks += _missing_or_bad(frame["price"], price, "price")
        checks.append((f"price below ${MIN_PRICE:.0f}", price < MIN_PRICE))
    checks.append(("missing neighbourhood", neighbourhood.isna()))
    checks.append(("missing room_type", room_type.isna()))
    for column in ("latitude", "longitude", "accommodates"):
        checks += _missing_or_bad(frame[column], numbers[column], column)
    checks.append((BATHROOMS_TEXT_UNCLEAR, bathrooms_text_unclear(frame)))
    counts = [(frame["bedrooms"], numbers["bedrooms"], "bedrooms")]
    counts += [(frame["beds"], numbers["beds"], "beds"), (bath_raw, bathrooms, "bathrooms")]
    for raw_count, parsed, name in counts:
        found = _missing_or_bad(raw_count, parsed, name)
        checks += found if labelled else found[1:]  # predicting: missing is allowed
    checks.append(("amenities not a JSON list of strings", ~amenities_ok))
    checks.append(("negative count", _any_negative(numbers, bathrooms)))
    checks.append(("latitude out of range [-90, 90]", numbers["latitude"].abs() > 90))
    checks.append(("longitude out of range [-180, 180]", numbers["longitude"].abs() > 180))
    reasons = first_reasons(checks, frame.index)
    keep = reasons.isna()

    table = pd.DataFrame(
        {
            "id": ids.astype("Int64"),
            "neighbourhood": neighbourhood,
            "property_type": _optional_text(frame, "property_type"),
            "room_type": room_type,
            "latitude": numbers["latitude"],
            "longitude": numbers["longitude"],
            "accommodates": numbers["accommodates"],
            "bathrooms": bathrooms,
            "bedrooms": numbers["bedrooms"],
            "beds": numbers["beds"],
            "price": price,
            "category": price_category(price),
        }
    )
    table = pd.concat([table, flag_columns], axis=1)[keep].reset_index(drop=True)
    table = _finalise_types(table)
    report = _report(frame, reasons, table, neighbourhood_source(frame)[keep], malformed)
    if table.empty and labelled:
        raise DataValidationError(
            f"no usable rows in {source}: all {report.rows_read:,} rows were dropped.\n"
            + report.format()
        )
    return CleanResult(table=table, report=report, reasons=reasons)


def _first_present(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    result = pd.Series(pd.NA, index=frame.index, dtype="string")
    for column in columns:
        if column in frame:
            result = result.fillna(frame[column].astype("string"))
    return result


def _optional_text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def _any_negative(numbers: dict[str, pd.Series], bathrooms: pd.Series) -> pd.Series:
    counts = [numbers[c] for c in ("accommodates", "bedrooms", "beds")] + [bathrooms]
    return pd.concat([c < 0 for c in counts], axis=1).any(axis=1)


def _finalise_types(table: pd.DataFrame) -> pd.DataFrame:
    out = table.assign(
        id=table["id"].astype("int64"),
        accommodates=table["accommodates"].astype("int64"),
        category_code=table["category"].map({c: i for i, c in enumerate(CATEGORIES)}),
    )
    # Unlabelled listings (to predict) have no category: their code stays missing.
    out["category_code"] = out["category_code"].astype(
        "Int64" if out["category"].isna().any() else "int64"
    )
    return out[[c for c in CLEAN_COLUMNS if c in out.columns]]


def _report(
    frame: pd.DataFrame,
    reasons: pd.Series,
    table: pd.DataFrame,
    sources: pd.Series,
    malformed: Sequence[BadRow] = (),
) -> CleanReport:
    dropped = reasons.dropna()
    counts = {str(k): int(v) for k, v in dropped.value_counts().items()}
    examples: dict[str, list[str]] = {}
    for reason in counts:
        rows = frame.loc[dropped.index[dropped == reason][:_EXAMPLES_PER_REASON]]
        column = _column_for(reason)
        examples[reason] = [_describe(row, column) for _, row in rows.iterrows()]
    for line in malformed:
        counts[line.reason] = counts.get(line.reason, 0) + 1
        shown = examples.setdefault(line.reason, [])
        if len(shown) < _EXAMPLES_PER_REASON:
            shown.append(f"line {line.text[:80]!r}")
    categories = {str(k): int(v) for k, v in table["category"].value_counts().items()}
    return CleanReport(
        rows_read=len(frame) + len(malformed),
        rows_kept=len(table),
        dropped=counts,
        examples=examples,
        categories=categories,
        neighbourhood_source={str(k): int(v) for k, v in sources.value_counts().items()},
    )


def _column_for(reason: str) -> str | None:
    for column in (
        "price",
        "amenities",
        "neighbourhood",
        "room_type",
        "bathrooms_text",
        "bathrooms",
        "latitude",
        "longitude",
        "id",
    ):
        if column in reason:
            return column
    return reason.split()[-1] if reason.startswith(("missing", "unparseable")) else None


def _describe(row: pd.Series, column: str | None) -> str:
    text = f"id={row.get('id')!s}"
    if column and column in row.index:
        value = row[column]
        text += f" {column}=" + ("<empty>" if pd.isna(value) else repr(value))
    return text


def read_listings(source: str, malformed: list[BadRow] | None = None) -> pd.DataFrame:
    """Read raw listings, keeping only the columns the cleaner uses. Lines with the wrong
    number of fields go to ``malformed`` when it is given; otherwise the first is an error."""
    raw = read_csv_strings(source, lambda name: name in RAW_COLUMNS, malformed)
    check_columns(list(raw.columns), source)
    return raw


def load_clean(source: str) -> CleanResult:
    """Read and clean listings from a path or URL in one step; a line with the wrong number
    of fields is dropped and counted like any other bad row."""
    malformed: list[BadRow] = []
    raw = read_listings(source, malformed)
    return clean_listings(raw, source=source, malformed=malformed)


# --- a later file's prices: the outcome of earlier predictions ---


@dataclass(frozen=True)
class Actuals:
    """Each listing's price category in a later listings file, and when that file was scraped."""

    table: pd.DataFrame  # id, price, category: one row per listing with a usable price
    unusable: pd.DataFrame  # id, reason: listings whose price cannot give a category
    scraped_at: datetime
    scraped_from: str  # where scraped_at came from, for the report


def read_actuals(source: str, scraped_at: datetime | None = None) -> Actuals:
    """The realized price categories in ``source``, cleaned with the training data's parsers.

    Only ``id``, ``price`` and ``last_scraped`` are read: a listing's features may have
    changed since it was classified, and it is its price that gives the outcome. The scrape
    time is ``scraped_at`` when given, else the latest ``last_scraped`` of the file, else (for
    a local file without that column) the file's modification time.
    """
    wanted = {"id", "price", "last_scraped"}
    raw = read_csv_strings(source, columns=lambda name: name in wanted)
    missing = [c for c in ("id", "price") if c not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{source} has no {' or '.join(missing)} column: actuals need Inside Airbnb's "
            "detailed listings.csv, whose id and price give each listing's realized category."
        )
    ids, price = parse_id(raw["id"]), parse_price(raw["price"])
    checks = _missing_or_bad(raw["id"], ids, "id")
    checks.append(("duplicate id", ids.duplicated(keep="first") & ids.notna()))
    checks += _missing_or_bad(raw["price"], price, "price")
    checks.append((f"price below ${MIN_PRICE:.0f}", price < MIN_PRICE))
    reasons = first_reasons(checks, raw.index)
    keep = reasons.isna()
    table = pd.DataFrame(
        {
            "id": ids[keep].astype("int64"),
            "price": price[keep],
            "category": price_category(price[keep]),
        }
    ).reset_index(drop=True)
    # A listing without a usable price is still *in* the file: its predictions are counted
    # as unjoinable for that reason, not as delisted.
    unusable = pd.DataFrame({"id": ids[~keep], "reason": reasons[~keep]}).dropna(subset=["id"])
    when, origin = _scrape_time(source, raw, scraped_at)
    return Actuals(
        table=table,
        unusable=unusable.astype({"id": "int64"}).reset_index(drop=True),
        scraped_at=when,
        scraped_from=origin,
    )


def _scrape_time(source: str, raw: pd.DataFrame, given: datetime | None) -> tuple[datetime, str]:
    if given is not None:
        return given.astimezone(UTC), "given (--scraped-at)"
    if "last_scraped" in raw.columns:
        dates = pd.to_datetime(raw["last_scraped"], errors="coerce", utc=True).dropna()
        if len(dates):
            # The scrape's last day ends after any prediction made on it.
            end = dates.max().to_pydatetime() + timedelta(days=1)
            return end, "the file's latest last_scraped date (end of day)"
    # A file without dates was written when it was scraped: a local file's mtime, an S3
    # object's upload time. HTTP servers need not say, and a guess would join the wrong rows.
    written = modified_at(source)
    if written is not None:
        return written, "the file's modification time (it has no last_scraped dates)"
    raise DataValidationError(
        f"{source} has no last_scraped dates and its store does not say when it was written, "
        "so when its prices were observed is unknown: pass --scraped-at YYYY-MM-DD "
        "(predictions logged before it are joined)."
    )
