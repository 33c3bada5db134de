"""What the service hands to the prediction log, and what it counts in ``/metrics``."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Sequence
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.lifecycle.store import state_dir
from mle_challenge.model.schema import Classification
from mle_challenge.monitoring.log import Answered, PredictionLog, resolve_url

# Unique across workers, restarts and machines. A pid and a start second were not: replicas
# in containers started together have the same pid and second, their request ids matched, and
# the log's duplicate check skipped one replica's rows as replays.
_WORKER = secrets.token_hex(6)
_REQUESTS = itertools.count()


def open_log(setting: str) -> PredictionLog | None:
    """The worker's prediction log for ``MLE_PREDICTION_LOG`` (None when it is ``off``)."""
    url = resolve_url(setting, state_dir())
    if url is None:
        return None
    return PredictionLog(url, state_dir() / "prediction-log-spill")


def record_answers(
    log: PredictionLog | None,
    endpoint: str,
    listings: Sequence[Any],
    answers: Sequence[Classification],
) -> None:
    """Hand one request's answers to the log: one row each, under one request id.

    On the request path, so only cheap work: the validated fields as they are (pydantic keeps
    them in ``__dict__``), and an id from the worker's random prefix and a counter.
    """
    if log is None:
        return
    now, request_id = time.time(), f"{_WORKER}-{next(_REQUESTS):x}"
    for position, (listing, answer) in enumerate(zip(listings, answers, strict=True)):
        log.record(
            Answered(
                logged_at=now,
                request_id=request_id,
                endpoint=endpoint,
                model=answer.model,
                listing=listing.__dict__,
                category=str(answer.price_category),
                probabilities=[answer.probabilities[c] for c in CATEGORIES],
                position=position,
            )
        )
