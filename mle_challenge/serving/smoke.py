"""A smoke test of a running service: send listings, then sum up what came back.

``classify --sample 800`` printed 800 ids and nothing a reader could judge a deployment by.
Here each request is timed and each listing's answer kept, so that the summary says how many
were answered (by HTTP status and by category), which failed and why, and the latency
percentiles of the requests; the answers themselves are for ``--rows``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.serving.client import ClientError, PriceClient

# The percentiles the summary gives, of the requests' latencies.
PERCENTILES = (50, 90, 99)
_ERROR_IDS_SHOWN = 5  # ids named per distinct error; the count says how many there were


@dataclass(frozen=True)
class Outcome:
    """What one listing got back: its answer, or the error of the request that carried it."""

    listing_id: Any
    status: int | None  # HTTP status; None: the service did not answer at all
    category: str | None = None
    probability: float | None = None  # of the category answered
    error: str | None = None


def _answered(answer: Mapping[str, Any]) -> Outcome:
    category = str(answer["price_category"])
    probability = float(answer["probabilities"][category])
    return Outcome(answer["id"], 200, category, probability)


@dataclass(frozen=True)
class SmokeRun:
    """Every listing's outcome, in the order sent, and each request's latency in seconds."""

    outcomes: list[Outcome]
    latencies: list[float]


def send(
    client: PriceClient,
    listings: Sequence[Mapping[str, Any]],
    batch_size: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> SmokeRun:
    """One ``/classify`` request per listing (``batch_size`` 1), else ``/classify_batch``
    requests of ``batch_size``. A refused or failed request is the outcome of each listing it
    carried, and the next request is still sent: one bad listing does not hide the rest."""
    run = SmokeRun([], [])
    for start in range(0, len(listings), batch_size):
        part = listings[start : start + batch_size]
        began = clock()
        try:
            answers = [client.classify(part[0])] if batch_size == 1 else client.classify_batch(part)
        except ClientError as exc:
            run.latencies.append(clock() - began)
            run.outcomes.extend(Outcome(x.get("id"), exc.status, error=str(exc)) for x in part)
            continue
        run.latencies.append(clock() - began)
        run.outcomes.extend(_answered(answer) for answer in answers)
    return run


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``values`` (not empty): a value that was seen."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def _status_line(outcomes: Sequence[Outcome]) -> str:
    counts = Counter("no answer" if o.status is None else str(o.status) for o in outcomes)
    return "  ".join(f"{status}: {n}" for status, n in sorted(counts.items()))


def _category_line(outcomes: Sequence[Outcome]) -> str:
    counts = Counter(o.category for o in outcomes if o.category is not None)
    total = sum(counts.values())
    known = [c for c in CATEGORIES if c in counts] + sorted(set(counts) - set(CATEGORIES))
    return "  ".join(f"{c} {counts[c]} ({counts[c] / total:.0%})" for c in known) or "-"


def _latency_line(latencies: Sequence[float]) -> str:
    parts = [f"p{p} {percentile(latencies, p) * 1000:.1f} ms" for p in PERCENTILES]
    return "  ".join([*parts, f"max {max(latencies) * 1000:.1f} ms"])


def _error_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """Each distinct error once, with how many listings got it and the first ids."""
    by_error: dict[str, list[Any]] = {}
    for o in outcomes:
        if o.error is not None:
            by_error.setdefault(o.error, []).append(o.listing_id)
    lines = []
    for error, ids in by_error.items():
        shown = ", ".join(str(i) for i in ids[:_ERROR_IDS_SHOWN])
        more = f" and {len(ids) - _ERROR_IDS_SHOWN} more" if len(ids) > _ERROR_IDS_SHOWN else ""
        lines.append(f"  {len(ids)} x {error} (ids {shown}{more})")
    return lines


def summary_lines(run: SmokeRun) -> list[str]:
    """Listings answered and failed, by HTTP status, by category, the latency percentiles of
    the requests, and each distinct error."""
    outcomes = run.outcomes
    failed = sum(o.error is not None for o in outcomes)
    lines = [
        f"answered  {len(outcomes) - failed}, failed {failed}, in {len(run.latencies)} requests",
        f"status    {_status_line(outcomes)}",
        f"category  {_category_line(outcomes)}",
    ]
    if run.latencies:
        lines.append(f"latency   {_latency_line(run.latencies)}  (per request)")
    if failed:
        lines += ["errors:", *_error_lines(outcomes)]
    return lines


def row_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """Each listing's answer (``--rows``): id, category and its probability, or the error."""
    lines = [f"{'id':>20}  {'category':<8} {'probability':>11}"]
    for o in outcomes:
        if o.error is not None:
            lines.append(f"{o.listing_id!s:>20}  error: {o.error}")
        else:
            lines.append(f"{o.listing_id!s:>20}  {o.category:<8} {o.probability:>11.3f}")
    return lines
