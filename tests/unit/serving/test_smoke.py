"""Unit tests: `classify` sums up what a service answered instead of printing every id."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from mle_challenge.serving.client import ClientError
from mle_challenge.serving.smoke import Outcome, SmokeRun, percentile, send, summary_lines

pytestmark = pytest.mark.unit


class _Service:
    """A stand-in PriceClient: listing ids ending in 7 are refused with a 400."""

    def __init__(self) -> None:
        self.requests = 0

    def _answer(self, listing: Mapping[str, Any]) -> dict[str, Any]:
        if listing["id"] % 10 == 7:
            raise ClientError("POST /classify answered 400: latitude out of range", 400)
        category = ("Low", "Mid", "High", "Lux")[listing["id"] % 4]
        return {"id": listing["id"], "price_category": category, "probabilities": {category: 0.7}}

    def classify(self, listing: Mapping[str, Any]) -> dict[str, Any]:
        self.requests += 1
        return self._answer(listing)

    def classify_batch(self, listings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        self.requests += 1
        return [self._answer(x) for x in listings]


def _clock() -> Iterator[float]:
    """Each request takes 1 ms more than the one before: 1, 2, 3 ... ms."""
    now, step = 0.0, 0.0
    while True:
        yield now
        step += 0.001
        now += step
        yield now


def test_each_listing_is_one_request_and_a_refusal_does_not_stop_the_rest() -> None:
    service, ticks = _Service(), _clock()
    listings = [{"id": i} for i in range(20)]
    run = send(service, listings, clock=lambda: next(ticks))  # type: ignore[arg-type]
    assert service.requests == 20 and len(run.outcomes) == 20 and len(run.latencies) == 20
    refused = [o for o in run.outcomes if o.error is not None]
    assert [o.listing_id for o in refused] == [7, 17] and {o.status for o in refused} == {400}
    assert run.latencies == pytest.approx([0.001 * (i + 1) for i in range(20)])


def test_a_refused_batch_is_the_outcome_of_each_of_its_listings() -> None:
    service = _Service()
    run = send(service, [{"id": i} for i in range(12)], batch_size=5)  # type: ignore[arg-type]
    assert service.requests == 3 and len(run.latencies) == 3
    assert [o.error is not None for o in run.outcomes] == [False] * 5 + [True] * 5 + [False] * 2


def test_the_summary_counts_status_category_errors_and_latency_percentiles() -> None:
    """Check the summary of 800 listings: 790 answered, 10 refused, with the percentiles."""
    outcomes = [
        Outcome(i, 400, error="answered 400: latitude out of range")
        if i < 10
        else Outcome(i, 200, ("Low", "Mid", "High", "Lux")[i % 4], 0.6)
        for i in range(800)
    ]
    lines = summary_lines(SmokeRun(outcomes, [i / 1000 for i in range(1, 801)]))
    assert lines[0] == "answered  790, failed 10, in 800 requests"
    assert lines[1] == "status    200: 790  400: 10"
    assert lines[2].startswith("category  Low 197 (25%)  Mid 197 (25%)  High 198")
    assert (
        lines[3]
        == "latency   p50 400.0 ms  p90 720.0 ms  p99 792.0 ms  max 800.0 ms  (per request)"
    )
    assert lines[4:] == [
        "errors:",
        "  10 x answered 400: latitude out of range (ids 0, 1, 2, 3, 4 and 5 more)",
    ]
    assert len(lines) == 6  # no per-row output: that is behind --rows


def test_a_service_that_does_not_answer_is_counted_so() -> None:
    outcomes = [Outcome(1, None, error="cannot reach http://x/classify")]
    lines = summary_lines(SmokeRun(outcomes, [10.0]))
    assert lines[1] == "status    no answer: 1" and lines[2] == "category  -"


@pytest.mark.parametrize(("p", "expected"), [(50, 2.0), (90, 4.0), (99, 4.0), (1, 1.0)])
def test_percentiles_are_nearest_rank(p: float, expected: float) -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], p) == expected
