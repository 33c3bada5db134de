"""The worker's heap, frozen before the model loads."""

from __future__ import annotations

import gc
import weakref

import pytest

from mle_challenge.serving.runtime import settle_heap

pytestmark = pytest.mark.unit


class _Cycle:
    me: _Cycle


def test_settle_heap_frees_cycles_then_freezes_what_lives() -> None:
    garbage = _Cycle()
    garbage.me = garbage
    dead = weakref.ref(garbage)
    del garbage
    try:
        settle_heap()
        assert dead() is None  # collected before the freeze, not frozen for good
        assert gc.get_freeze_count() > 0
        # what comes after the freeze (the model, say) is still collected when it is dropped
        later = _Cycle()
        later.me = later
        after = weakref.ref(later)
        del later
        gc.collect()
        assert after() is None
    finally:
        gc.unfreeze()
