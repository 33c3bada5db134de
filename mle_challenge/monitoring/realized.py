"""Realized performance: logged predictions against the prices of a later listings file.

Inside Airbnb scrapes each city again every month or quarter, so a listing classified today
shows its price in the next file. A prediction is joined with that price when it was logged
before the file was scraped (a price seen before the prediction is no outcome of it) and the
listing is in the file with a usable price; every other prediction is counted under the reason
it could not be joined. Figures are computed with the offline evaluation's own function, so a
replay of the test rows gives the test figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from mle_challenge import PRICE_BINS
from mle_challenge.config import MonitorParams
from mle_challenge.data.actuals import Actuals
from mle_challenge.data.airbnb_fields import price_category
from mle_challenge.model.evaluate import label_metrics

AFTER_SCRAPE = "logged after the later file was scraped"
NOT_IN_FILE = "listing not in the later file (delisted, or a new id)"


@dataclass(frozen=True)
class Realized:
    source: str
    scraped_at: str
    scraped_from: str
    predictions: int  # in the window
    joined: int
    listings_joined: int  # distinct listing ids among the joined predictions
    not_joined: dict[str, int]
    by_model: dict[str, dict[str, Any]]  # figures of each model, beside its test figures
    by_week: list[dict[str, Any]]  # model, week (Monday), rows, accuracy, macro-F1
    alarm: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def join_actuals(
    window: pd.DataFrame,
    actuals: Actuals,
    price_edges: Mapping[str, Sequence[float]] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The window's predictions with their realized ``actual`` class, and how many could not
    be joined, by reason. ``window`` has ``listing_id``, ``logged_at`` (UTC), ``model`` and
    ``price_category``; a later price is put in a category by the edges of the model that
    answered (``price_edges`` by tag; NYC's for a model not in it)."""
    logged = pd.to_datetime(window["logged_at"], utc=True)
    before = logged < pd.Timestamp(actuals.scraped_at)
    price = window["listing_id"].map(actuals.table.set_index("id")["price"])
    actual = pd.Series(pd.NA, index=window.index, dtype="string")
    for model, rows in window.groupby("model", sort=False).groups.items():
        edges = (price_edges or {}).get(str(model), PRICE_BINS)
        actual[rows] = price_category(price[rows], edges)
    unusable = window["listing_id"].map(
        actuals.unusable.drop_duplicates("id").set_index("id")["reason"]
    )
    reasons = pd.Series(pd.NA, index=window.index, dtype="string")
    reasons[actual.isna()] = NOT_IN_FILE
    found = unusable.notna() & actual.isna()
    reasons[found] = "later price unusable: " + unusable[found].astype(str)
    reasons[~before] = AFTER_SCRAPE
    joined = window[reasons.isna()].assign(actual=actual[reasons.isna()].astype(str))
    counts = {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()}
    return joined, counts


def realized_performance(
    window: pd.DataFrame,
    actuals: Actuals,
    source: str,
    test_figures: Mapping[str, Mapping[str, Any]],
    params: MonitorParams,
    price_edges: Mapping[str, Sequence[float]] | None = None,
) -> Realized:
    """Accuracy, macro-F1, per-class recall and confusion of the joined predictions, per model
    and per model and week; an alarm when a model with at least ``monitor.min_rows`` joined
    predictions is further below its test figures than the thresholds allow."""
    joined, not_joined = join_actuals(window, actuals, price_edges)
    by_model: dict[str, dict[str, Any]] = {}
    reasons: list[str] = []
    for model, rows in joined.groupby("model", sort=True):
        scores = label_metrics(rows["actual"], rows["price_category"])
        test = dict(test_figures.get(str(model), {}))
        entry = {**scores, "test": test, "judged": len(rows) >= params.min_rows}
        by_model[str(model)] = entry
        if not entry["judged"] or not test:
            continue
        for metric, limit in (
            ("accuracy", params.max_accuracy_drop),
            ("macro_f1", params.max_macro_f1_drop),
        ):
            drop = float(test[metric]) - scores[metric]
            if drop > limit:
                reasons.append(
                    f"{model}: realized {metric} {scores[metric]:.3f} is {drop:.3f} below its "
                    f"test {metric} {float(test[metric]):.3f} (monitor.max_{metric}_drop {limit})"
                )
    by_week = []
    if len(joined):
        weeks = pd.to_datetime(joined["logged_at"], utc=True).dt.tz_localize(None).dt.to_period("W")
        for (model, week), rows in joined.groupby([joined["model"], weeks], sort=True):
            scores = label_metrics(rows["actual"], rows["price_category"])
            by_week.append(
                {
                    "model": str(model),
                    "week": str(week.start_time.date()),
                    "rows": scores["rows"],
                    "accuracy": scores["accuracy"],
                    "macro_f1": scores["macro_f1"],
                }
            )
    return Realized(
        source=source,
        scraped_at=actuals.scraped_at.isoformat(timespec="seconds"),
        scraped_from=actuals.scraped_from,
        predictions=len(window),
        joined=len(joined),
        listings_joined=int(joined["listing_id"].nunique()) if len(joined) else 0,
        not_joined=not_joined,
        by_model=by_model,
        by_week=by_week,
        alarm=bool(reasons),
        reasons=reasons,
    )
