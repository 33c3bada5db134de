"""Request ids of the prediction log: unique across replicas that start together; a request's
Idempotency-Key becomes its rows' request id, and a malformed key is refused with the fix."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
from types import SimpleNamespace
from typing import Any

import pytest

from mle_challenge.monitoring.log import Answered
from mle_challenge.serving.recording import RequestKeys, key_problem, log_health, record_answers

pytestmark = pytest.mark.unit


def test_replicas_with_the_same_pid_and_start_second_get_different_request_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check the case the stack's two API containers hit: each worker is the same pid in its
    own container, started in the same second. Their ids must still differ, or the log's
    duplicate check (answer_key) drops one replica's rows as replays."""
    from mle_challenge.serving import recording

    monkeypatch.setattr(os, "getpid", lambda: 7)
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    prefixes = set()
    for _ in range(2):
        prefixes.add(importlib.reload(recording)._WORKER)
    importlib.reload(recording)  # the session goes on with a worker id of its own
    assert len(prefixes) == 2
    assert all(len(p) + 1 + 10 <= 32 for p in prefixes)  # request_id was VARCHAR(32)


class _Log:
    def __init__(self) -> None:
        self.rows: list[Answered] = []

    def record(self, answer: Answered) -> None:
        self.rows.append(answer)


def _call(headers: list[tuple[bytes, bytes]], log: _Log) -> list[dict[str, Any]]:
    """One POST through RequestKeys to an app that logs two answers; what was sent back."""
    listing = SimpleNamespace(id=5, accommodates=2)
    answer = SimpleNamespace(
        model="m:1",
        price_category="Low",
        probabilities=dict.fromkeys(("Low", "Mid", "High", "Lux"), 0.25),
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        record_answers(log, "/classify_batch", [listing, listing], [answer, answer])  # type: ignore[arg-type]
        await send({"type": "http.response.start", "status": 200, "headers": []})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/classify_batch", "headers": headers}
    asyncio.run(RequestKeys(app)(scope, None, send))
    return sent


def test_a_requests_idempotency_key_is_its_rows_request_id() -> None:
    """Check that a keyed request's rows carry the key (and say so), and an unkeyed one's a
    worker id of its own."""
    log = _Log()
    _call([(b"idempotency-key", b"0b6e1c9a-2f44-4c1e-9d3a-7a1f5e2b8c10")], log)
    _call([], log)
    keyed, plain = log.rows[:2], log.rows[2:]
    assert {r.request_id for r in keyed} == {"0b6e1c9a-2f44-4c1e-9d3a-7a1f5e2b8c10"}
    assert all(r.keyed for r in keyed) and [r.position for r in keyed] == [0, 1]
    assert not any(r.keyed for r in plain) and plain[0].request_id != keyed[0].request_id


@pytest.mark.parametrize("key", [b"", b"a" * 65, b"two words", "é".encode("latin-1")])
def test_a_malformed_key_is_refused_with_the_fix(key: bytes) -> None:
    """Check that a key the log cannot keep is a 400 naming the header and what to send."""
    log = _Log()
    sent = _call([(b"Idempotency-Key", key)], log)
    assert sent[0]["status"] == 400 and not log.rows
    error = json.loads(sent[1]["body"])["error"]
    assert error.startswith("Idempotency-Key must be 1 to 64") and "UUID" in error
    assert key_problem(b"retry-1.a:b_C") is None


def test_health_of_a_log_that_is_off() -> None:
    """Check that no log is reported as off, not degraded."""
    assert log_health(None) == {"state": "off", "degraded": False}


def test_each_database_has_its_own_spill_folder() -> None:
    """Check that rows spilled for one database are never in another's folder (a writer
    replays its folder into its own database), and that a new password keeps the folder."""
    from mle_challenge.serving.recording import spill_folder

    a = spill_folder("postgresql://mle:one@db:5432/log")
    assert a == spill_folder("postgresql://mle:two@db:5432/log")
    assert a != spill_folder("postgresql://mle:one@db:5432/other")
    assert a != spill_folder("sqlite:////var/lib/mle/predictions.db")
    assert a.parent.name == "prediction-log-spill"
