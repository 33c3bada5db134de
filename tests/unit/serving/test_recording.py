"""Request ids of the prediction log: unique across replicas that start together."""

from __future__ import annotations

import importlib
import os
import time

import pytest

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
    assert all(len(p) + 1 + 10 <= 32 for p in prefixes)  # request_id is VARCHAR(32)
