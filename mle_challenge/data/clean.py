"""Validate and clean raw Inside Airbnb *detailed* listings into the table the model trains on.

This reproduces the data scientists' notebook (``01-exploratory-data-analysis``) with
deliberate fixes, each documented in ``docs/data.md`` and made by the field parsers of
:mod:`.airbnb_fields`:

* prices with a thousands separator (``"$1,250.00"``) parse to 1250.0, not 1;
* ``"Half-bath"`` / ``"Shared half-bath"`` give 0.5 bathrooms instead of dropping the row;
* amenities are parsed as the JSON list they are;
* the neighbourhood falls back to ``neighbourhood_cleansed`` when the borough column is absent;
* a price of exactly $10 is Low (the notebook's right-closed bins gave it no category).

Every dropped row is counted under one reason (the first that applies) with examples:
nothing is lost silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.data.airbnb_fields import (
    AMENITY_FLAGS,
    BATHROOMS_TEXT_UNCLEAR,
    MIN_PRICE,
    NEIGHBOURHOOD_COLUMNS,
    amenity_flags,
    bathrooms_text_unclear,
    neighbourhood_source,
    parse_amenities,
    parse_amenity_flags,
    parse_bathrooms,
    parse_bathrooms_text,
    parse_price,
    price_category,
    resolve_neighbourhood,
)
from mle_challenge.data.parse import first_reasons, missing_or_bad, parse_id, parse_number
from mle_challenge.data.sources import BadRow, read_csv_strings
from mle_challenge.errors import DataValidationError

# This module's names, and the parsers and constants that moved to .parse and .airbnb_fields
# but which tests and benchmarks still import from here.
__all__ = [
    "AMENITY_FLAGS",
    "BATHROOMS_TEXT_UNCLEAR",
    "BATHROOM_COLUMNS",
    "CLEAN_COLUMNS",
    "OPTIONAL_COLUMNS",
    "RAW_COLUMNS",
    "REQUIRED_COLUMNS",
    "CleanReport",
    "CleanResult",
    "amenity_flags",
    "check_columns",
    "clean_listings",
    "load_clean",
    "parse_amenities",
    "parse_amenity_flags",
    "parse_bathrooms",
    "parse_bathrooms_text",
    "parse_id",
    "parse_number",
    "parse_price",
    "price_category",
    "read_listings",
    "resolve_neighbourhood",
]

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
    checks += missing_or_bad(frame["id"], ids, "id")
    checks.append(("duplicate id", ids.duplicated(keep="first") & ids.notna()))
    if labelled:
        checks += missing_or_bad(frame["price"], price, "price")
        checks.append((f"price below ${MIN_PRICE:.0f}", price < MIN_PRICE))
    checks.append(("missing neighbourhood", neighbourhood.isna()))
    checks.append(("missing room_type", room_type.isna()))
    for column in ("latitude", "longitude", "accommodates"):
        checks += missing_or_bad(frame[column], numbers[column], column)
    checks.append((BATHROOMS_TEXT_UNCLEAR, bathrooms_text_unclear(frame)))
    counts = [(frame["bedrooms"], numbers["bedrooms"], "bedrooms")]
    counts += [(frame["beds"], numbers["beds"], "beds"), (bath_raw, bathrooms, "bathrooms")]
    for raw_count, parsed, name in counts:
        found = missing_or_bad(raw_count, parsed, name)
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
