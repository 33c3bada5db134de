"""A later listings file's prices: the outcome of earlier predictions, and when it was scraped.

Read with the training data's parsers (:mod:`.parse`, :mod:`.airbnb_fields`), so an actual
price means what a training price means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from mle_challenge.data.airbnb_fields import MIN_PRICE, parse_price, price_category
from mle_challenge.data.parse import first_reasons, missing_or_bad, parse_id
from mle_challenge.data.sources import modified_at, read_csv_strings
from mle_challenge.errors import DataValidationError


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
    checks = missing_or_bad(raw["id"], ids, "id")
    checks.append(("duplicate id", ids.duplicated(keep="first") & ids.notna()))
    checks += missing_or_bad(raw["price"], price, "price")
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
