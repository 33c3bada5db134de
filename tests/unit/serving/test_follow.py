"""The follower's thread: when it settles the heap after a swap."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from mle_challenge.serving.follow import Follower, Served
from mle_challenge.serving.runtime import settle_heap

pytestmark = pytest.mark.unit


class _Predictor:
    tag = "price_classifier:old"


class _Scripted(Follower):
    """A follower whose polls return the given tags (None: production did not move)."""

    def __init__(self, results: list[str | None], settle: threading.Event) -> None:
        super().__init__(
            "price_classifier",
            Served(_Predictor(), object, {}),  # type: ignore[arg-type]
            interval=0.01,
            max_batch=10,
            swap=lambda new: None,
            settle=settle.set,
        )
        self.results = results

    def poll(self) -> str | None:
        if not self.results:
            self.stop()
            return None
        return self.results.pop(0)


def test_the_heap_is_settled_only_after_a_swap() -> None:
    settled = threading.Event()
    quiet = _Scripted([None, None, None], settled)
    quiet._run()
    assert not settled.is_set()

    swapped = _Scripted([None, "price_classifier:new", None], settled)
    swapped._run()
    assert settled.is_set()


def test_settle_heap_freezes_what_lives_and_frees_cycles_first() -> None:
    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage  # type: ignore[attr-defined]
    alive = weakref.ref(garbage)
    del garbage
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert alive() is None  # collected, not frozen for good
    finally:
        gc.unfreeze()
