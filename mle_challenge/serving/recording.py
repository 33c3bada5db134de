"""What the service hands to the prediction log, what it counts in ``/metrics``, and the
``Idempotency-Key`` that keeps a client's retry from being logged twice."""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.lifecycle.store import state_dir
from mle_challenge.model.schema import Classification
from mle_challenge.monitoring.log import (
    Answered,
    LogHealth,
    PredictionLog,
    hidden_url,
    resolve_url,
)

# Unique across workers, restarts and machines. A pid and a start second were not: replicas
# in containers started together have the same pid and second, their request ids matched, and
# the log's duplicate check skipped one replica's rows as replays.
_WORKER = secrets.token_hex(6)
_REQUESTS = itertools.count()

KEY_HEADER = "Idempotency-Key"
_KEY_BYTES = KEY_HEADER.lower().encode()
_VALID_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# The request's Idempotency-Key, set by RequestKeys for the answer's log rows.
_request_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("mle_key", default=None)
_gauges: dict[str, Any] = {}


def spill_folder(url: str) -> Path:
    """Where rows for the database at ``url`` wait while it does not answer: a folder per
    database (a hash of its URL, password left out), so that a writer only ever replays rows
    into the database they were answered for, whichever other logs share the state folder."""
    digest = hashlib.sha256(hidden_url(url).encode()).hexdigest()[:16]
    return state_dir() / "prediction-log-spill" / digest


def open_log(setting: str) -> PredictionLog | None:
    """The worker's prediction log for ``MLE_PREDICTION_LOG`` (None when it is ``off``); its
    state is kept in ``/metrics`` (``mle_prediction_log_degraded``, ``..._held_rows``)."""
    url = resolve_url(setting, state_dir())
    if url is None:
        return None
    log = PredictionLog(url, spill_folder(url))
    log.state_observers.append(_gauge_health)
    return log


def log_health(log: PredictionLog | None) -> dict[str, Any]:
    """The worker's prediction log in a health answer: ``state`` is ok, spilling (the database
    does not answer; rows are safe on disk), holding (neither the database nor the disk takes
    rows; they wait in memory) or off, with the reason and what became of the rows."""
    if log is None:
        return {"state": "off", "degraded": False}
    health, counts = log.health(), log.counts
    names = ("written", "spilled", "replayed", "dropped", "torn", "quarantined")
    return {
        "state": health.state,
        "degraded": health.degraded,
        "reason": health.reason,
        "held_rows": health.held,
        "queued_rows": health.queued,
        "rows": {name: getattr(counts, name) for name in names},
    }


def _gauge_health(health: LogHealth) -> None:
    """Set the worker's log gauges; made on first use, in the worker (prometheus_client has
    to be imported after BentoML has set up its multiprocess mode)."""
    if not _gauges:
        from prometheus_client import Gauge

        _gauges["degraded"] = Gauge(
            "mle_prediction_log_degraded",
            "1 while a worker's prediction log is degraded: the database does not take rows "
            "(they spill to disk) or neither does the disk (they wait in memory); /status says "
            "why.",
            multiprocess_mode="livemax",
        )
        _gauges["held"] = Gauge(
            "mle_prediction_log_held_rows",
            "Rows waiting in memory because neither the database nor the spill file took them "
            "(dropped, and counted, past the queue's bound).",
            multiprocess_mode="livesum",
        )
    _gauges["degraded"].set(int(health.degraded))
    _gauges["held"].set(health.held)


def record_answers(
    log: PredictionLog | None,
    endpoint: str,
    listings: Sequence[Any],
    answers: Sequence[Classification],
) -> None:
    """Hand one request's answers to the log: one row each, under one request id: the
    client's Idempotency-Key when it sent one (a retry then makes no second row), else an id
    from the worker's random prefix and a counter.

    On the request path, so only cheap work: the validated fields as they are (pydantic keeps
    them in ``__dict__``).
    """
    if log is None:
        return
    key = _request_key.get()
    now, request_id = time.time(), key or f"{_WORKER}-{next(_REQUESTS):x}"
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
                keyed=key is not None,
            )
        )


def key_problem(value: bytes) -> str | None:
    """Why ``value`` is not a usable Idempotency-Key (None when it is)."""
    text = value.decode("latin-1")
    if _VALID_KEY.fullmatch(text):
        return None
    shown = f"{len(text)} characters" if len(text) > 64 else repr(text)
    return (
        f"{KEY_HEADER} must be 1 to 64 letters, digits or . _ : - (got {shown}): send one "
        "key per request, such as a UUID, and the same key with each retry of it."
    )


class RequestKeys:
    """ASGI middleware: the request's ``Idempotency-Key`` header, for its log rows (a retry
    with the same key is logged once); a malformed key is refused with 400 and the fix.
    Outside the request guard, whose fast path answers /classify itself."""

    def __init__(self, app: Any, *, on_refuse: Callable[[int, str], None] | None = None) -> None:
        self.app = app
        self.on_refuse = on_refuse

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        value = next((v for k, v in scope.get("headers", []) if k.lower() == _KEY_BYTES), None)
        if value is None:
            return await self.app(scope, receive, send)
        problem = key_problem(value)
        if problem is not None:
            return await self._refuse(send, problem)
        token = _request_key.set(value.decode("latin-1"))
        try:
            return await self.app(scope, receive, send)
        finally:
            _request_key.reset(token)

    async def _refuse(self, send: Any, problem: str) -> None:
        if self.on_refuse is not None:
            self.on_refuse(400, "idempotency_key")
        body = json.dumps({"error": problem}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
