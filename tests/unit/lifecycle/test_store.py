"""The model store made safe: whole-or-nothing registration, damaged entries named, every load
checked against the recorded content hash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mle_challenge.errors import MleError
from mle_challenge.lifecycle import production, registry, store
from tests.unit.lifecycle.conftest import register_dummy

pytestmark = pytest.mark.unit


def _register(model: Any, fingerprint: str = "f1") -> str:
    return register_dummy(model, fingerprint)


def _pickle(home: Path, tag: str) -> Path:
    name, version = tag.split(":")
    return home / "models" / name / version / "saved_model.pkl"


def test_registration_records_a_hash_and_leaves_no_scratch(home: Path, fitted: Any) -> None:
    """Check that a registered model is whole, has a card with its hash, and no scratch."""
    tag = _register(fitted)
    assert store.verified(tag) == tag
    assert store.read_card(tag)["content_hash"].startswith("model-sha256:")
    assert list((home / "mle_challenge" / "staging").iterdir()) == []
    assert registry.resolve_tag("price_classifier:latest") == tag


def test_same_inputs_give_the_same_content_hash(
    home: Path, fitted: Any, tmp_path_factory: Any
) -> None:
    """Check that two saves of the same model have one content hash (model.yaml aside)."""
    first = _register(fitted, fingerprint="a")
    second = _register(fitted, fingerprint="b")
    assert first != second
    assert store.read_card(first)["content_hash"] == store.read_card(second)["content_hash"]


def test_an_interrupted_save_leaves_nothing_in_the_store(
    home: Path, fitted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that Ctrl-C while the pickle is written leaves no model, no card, no scratch."""
    import joblib

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(joblib, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _register(fitted)
    assert not (home / "models" / "price_classifier").exists()
    assert not (home / "mle_challenge" / "cards" / "price_classifier").exists()
    assert list((home / "mle_challenge" / "staging").iterdir()) == []


def test_scratch_of_a_killed_process_is_swept(home: Path, fitted: Any) -> None:
    """Check that a staging folder whose process is gone is removed by the next writer."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    left = home / "mle_challenge" / "staging" / f"{dead.stdout.strip()}-abc"
    (left / "bentoml-model-x").mkdir(parents=True)
    mine = home / "mle_challenge" / "staging" / f"{os.getpid()}-mine"
    mine.mkdir()
    _register(fitted)
    assert not left.exists()
    assert mine.exists()  # a live process's folder is left alone


def test_damaged_entries_are_named_and_never_adopted(home: Path, fitted: Any) -> None:
    """Check that an empty folder and a truncated pickle are listed as damaged, not fatal,
    and that registering the same inputs again replaces the truncated model."""
    tag = _register(fitted)
    pickle = _pickle(home, tag)
    pickle.write_bytes(pickle.read_bytes()[:40])  # a kill mid-copy, as BentoML alone allows
    (home / "models" / "price_classifier" / "emptyversion").mkdir()

    rows = {r["tag"]: r for r in production.listing().rows}
    assert "incomplete" in rows["price_classifier:emptyversion"]["problem"]
    assert "does not match" in rows[tag]["problem"]
    assert registry.find_by_fingerprint("f1") is None

    again = _register(fitted)
    assert again != tag and store.verified(again) == again
    with pytest.raises(store.IntegrityError):
        store.verified(tag)


def test_a_model_without_a_card_is_not_vouched_for(home: Path, fitted: Any) -> None:
    """Check that a model saved behind our back (plain BentoML) is refused, with the fix."""
    import bentoml

    saved = bentoml.sklearn.save_model("price_classifier", fitted)
    with pytest.raises(store.IntegrityError, match="no recorded content hash"):
        store.verified(str(saved.tag))


def test_a_missing_model_is_one_clear_error(home: Path) -> None:
    """Check that a card whose model is gone says so (and how to fix it), not NotFound."""
    with pytest.raises(MleError, match="not in the BentoML store"):
        store.model_path("price_classifier:nosuchversion")


def test_a_tampered_model_is_refused_by_every_path(home: Path, fitted: Any) -> None:
    """Check that one flipped byte makes loading by explicit tag refuse the model."""
    from mle_challenge.serving.runtime import served_model_tag

    tag = _register(fitted)
    pickle = _pickle(home, tag)
    data = bytearray(pickle.read_bytes())
    data[-5] ^= 0xFF
    pickle.write_bytes(bytes(data))
    with pytest.raises(store.IntegrityError, match="does not match"):
        served_model_tag(tag)
