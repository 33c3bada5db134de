"""Gate, promotion, rollback and history, end to end through the CLI against the session's
BentoML store, and the service following the production alias."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.airbnb import EXAMPLE_LISTING

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(autouse=True)
def fresh_lifecycle() -> Iterator[None]:
    """Every test starts with no production alias and no gate results (cards keep the
    content hashes recorded at registration)."""
    from mle_challenge.lifecycle.store import state_dir

    def forget() -> None:
        shutil.rmtree(state_dir() / "aliases", ignore_errors=True)
        for card in (state_dir() / "cards").rglob("*.json"):
            kept = {k: v for k, v in json.loads(card.read_text()).items() if k != "gate"}
            card.write_text(json.dumps(kept))

    forget()
    yield
    forget()


@pytest.fixture
def held_out(registered: Any, tmp_path: Path) -> Path:
    path = tmp_path / "held_out.parquet"
    registered.rows.to_parquet(path, index=False)
    return path


def _params(tmp_path: Path, **gate: float) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gate"].update(gate)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_gate_passes_and_is_kept_with_the_model(registered: Any, held_out: Path) -> None:
    done = _cli("gate", registered.tag, "--held-out", str(held_out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout and "invariance: id" in done.stdout
    listing = _cli("models", "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith(registered.tag))
    assert "passed" in row and "production" not in row


def test_failing_gate_exits_non_zero_and_blocks_promotion(
    registered: Any, held_out: Path, tmp_path: Path
) -> None:
    strict = _params(tmp_path, min_accuracy=0.99)
    done = _cli("gate", registered.tag, "--held-out", str(held_out), "--params", str(strict))
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "FAIL" in done.stdout
    refused = _cli("promote", registered.tag)
    assert refused.returncode == 2
    assert "failed its gate (metric: accuracy)" in refused.stderr
    assert "Traceback" not in refused.stderr
    no_reason = _cli("promote", registered.tag, "--force")
    assert no_reason.returncode == 2 and "--force needs --reason" in no_reason.stderr
    forced = _cli("promote", registered.tag, "--force", "--reason", "hotfix, checked by hand")
    assert forced.returncode == 0, forced.stderr
    history = _cli("models", "history").stdout
    assert "hotfix, checked by hand (gate overridden)" in history


def test_promote_without_a_gate_is_refused(registered: Any) -> None:
    done = _cli("promote", registered.tag)
    assert done.returncode == 2 and "no gate result" in done.stderr


def _answer_of_production(tmp_path: Path) -> dict[str, Any]:
    """What the service answers when no model is named: production's answer."""
    from tests.conftest import serve_from_source, stop

    env = {k: v for k, v in os.environ.items() if k != "MLE_MODEL_TAG"}
    process, url = serve_from_source(env, tmp_path)
    try:
        return dict(requests.post(f"{url}/classify", json=EXAMPLE_LISTING, timeout=10).json())
    finally:
        stop(process)


def test_promote_then_rollback_restores_the_previous_answers(
    registered: Any, held_out: Path, tmp_path: Path
) -> None:
    for tag in (registered.tag, registered.baseline_tag):
        assert _cli("gate", tag, "--held-out", str(held_out)).returncode == 0
    assert _cli("promote", registered.tag, "--reason", "first").returncode == 0
    first = _answer_of_production(tmp_path)
    assert first["model"] == registered.tag
    assert _cli("promote", registered.baseline_tag, "--reason", "second").returncode == 0
    second = _answer_of_production(tmp_path)
    assert second["model"] == registered.baseline_tag
    rolled = _cli("rollback", "--reason", "second was worse")
    assert rolled.returncode == 0 and registered.tag in rolled.stdout
    assert _answer_of_production(tmp_path) == first
    events = [line.split() for line in _cli("models", "history").stdout.splitlines()]
    assert [e[1] for e in events] == ["promote", "promote", "rollback"]
    assert _cli("rollback").returncode == 2  # nothing earlier than the first production model


def test_concurrent_promotions_leave_a_consistent_state(registered: Any, held_out: Path) -> None:
    from mle_challenge.lifecycle import production

    for tag in (registered.tag, registered.baseline_tag):
        assert _cli("gate", tag, "--held-out", str(held_out)).returncode == 0
    tags = [registered.tag, registered.baseline_tag] * 4
    with ThreadPoolExecutor(len(tags)) as pool:
        results = list(pool.map(lambda t: _cli("promote", t, "--reason", "race"), tags))
    for done in results:
        assert done.returncode in (0, 2), done.stderr
        if done.returncode == 2:
            assert "in progress; nothing was changed" in done.stderr
    alias = json.loads(
        (production.state_dir() / "aliases" / "price_classifier" / "production.json").read_text()
    )
    events = production.history()
    assert alias["tag"] in tags and events[-1]["to"] == alias["tag"]
    assert production.production_tag() == alias["tag"]  # hash still matches


def test_a_tampered_production_model_is_refused(registered: Any, held_out: Path) -> None:
    import bentoml

    from mle_challenge.lifecycle import production

    assert _cli("gate", registered.baseline_tag, "--held-out", str(held_out)).returncode == 0
    assert _cli("promote", registered.baseline_tag).returncode == 0
    pickle = Path(bentoml.models.get(registered.baseline_tag).path) / "saved_model.pkl"
    original = pickle.read_bytes()
    try:
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF  # one byte, as a disk error or an edit would
        pickle.write_bytes(bytes(flipped))
        with pytest.raises(production.IntegrityError):
            production.production_tag()
        done = _cli("bento", "build")
        assert done.returncode == 2 and "content hash" in done.stderr
        for command in (
            ("predict", "--input", str(held_out), "--output", str(held_out.with_suffix(".csv"))),
            ("predict", "--input", str(held_out), "--output", str(held_out.with_suffix(".csv")),
             "--model", registered.baseline_tag),
            ("gate", registered.baseline_tag, "--held-out", str(held_out)),
        ):  # fmt: skip
            done = _cli(*command)
            assert done.returncode == 2 and "content hash" in done.stderr, command
            assert "Traceback" not in done.stderr
    finally:
        pickle.write_bytes(original)
