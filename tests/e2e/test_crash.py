"""SIGKILL at random moments of a training run, registration included: after each kill the store
lists cleanly, and running again completes with the model a run without a kill gives."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import FAST_PARAMS, FastTrained
from tests.e2e.test_pipeline import _env, _write_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RANDOM_TRIALS = 8  # killed at a random moment of the whole run
REGISTRATION_TRIALS = 3  # killed the moment the model's staging folder appears


def _command(ws: Path, listings: Path, params: Path) -> list[str]:
    return [
        sys.executable, "-m", "mle_challenge.cli", "train", "--listings", str(listings),
        "--params", str(params), "--outputs", str(ws / "out"),
    ]  # fmt: skip


def _run(ws: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=_env(ws / "bentoml"), check=False
    )


def _registered_hash(ws: Path, out: str) -> str:
    tag = out.split("registered: ")[1].split()[0]
    name, version = tag.split(":")
    card = ws / "bentoml" / "mle_challenge" / "cards" / name / f"{version}.json"
    return str(json.loads(card.read_text())["content_hash"])


def _kill_after(process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _kill_when_staging(process: subprocess.Popen[str], ws: Path) -> bool:
    """SIGKILL as soon as a staging folder exists (registration has begun); False if the run
    ended first."""
    staging = ws / "bentoml" / "mle_challenge" / "staging"
    while process.poll() is None:
        if staging.is_dir() and any(staging.iterdir()):
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return True
        time.sleep(0.001)
    return False


@pytest.fixture(scope="module")
def reference(fast_trained: FastTrained) -> dict[str, Any]:
    """A run without a kill (the session's FAST_PARAMS run): its duration and its model's
    content hash."""
    ws, out = fast_trained.ws, fast_trained.result.stdout
    return {"seconds": fast_trained.seconds, "hash": _registered_hash(ws, out)}


def _recovers(ws: Path, command: list[str], reference: dict[str, Any], when: str) -> None:
    listed = _run(ws, [sys.executable, "-m", "mle_challenge.cli", "models", "list"])
    assert listed.returncode == 0, f"{when}: models list failed: {listed.stderr}"
    assert "Traceback" not in listed.stderr, when
    again = _run(ws, command)
    assert again.returncode == 0, f"{when}: the re-run failed: {again.stdout}{again.stderr}"
    assert _registered_hash(ws, again.stdout) == reference["hash"], when
    staging = ws / "bentoml" / "mle_challenge" / "staging"
    assert not staging.exists() or not any(staging.iterdir()), f"{when}: scratch left behind"


def test_sigkill_at_random_moments(
    reference: dict[str, Any], synthetic_csv: Path, tmp_path: Path
) -> None:
    """Check that a run killed at any moment recovers: the store lists, a re-run completes
    with the reference model's content hash, and no scratch folder is left."""
    rng = random.Random(20261126)
    for trial in range(RANDOM_TRIALS):
        ws = tmp_path / f"random-{trial}"
        ws.mkdir()
        params = _write_params(ws / "params.yaml", FAST_PARAMS)
        command = _command(ws, synthetic_csv, params)
        delay = rng.uniform(0.5, reference["seconds"])
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            env=_env(ws / "bentoml"),
        )  # fmt: skip
        _kill_after(process, delay)
        _recovers(ws, command, reference, f"killed after {delay:.2f} s")


def test_sigkill_during_registration(
    reference: dict[str, Any], fast_trained: FastTrained, synthetic_csv: Path, tmp_path: Path
) -> None:
    """Check that a kill while the model is being saved leaves a store that lists cleanly and
    a re-run that registers the same model."""
    killed = 0
    for trial in range(REGISTRATION_TRIALS):
        ws = tmp_path / f"register-{trial}"
        # Trained but not registered: the run goes straight to registration, where it is killed.
        cache = fast_trained.ws / "out" / "cache"
        ignore = shutil.ignore_patterns("register", "gate")
        shutil.copytree(cache, ws / "out" / "cache", ignore=ignore)
        params = _write_params(ws / "params.yaml", FAST_PARAMS)
        command = _command(ws, synthetic_csv, params)
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            env=_env(ws / "bentoml"),
        )  # fmt: skip
        killed += _kill_when_staging(process, ws)
        _recovers(ws, command, reference, f"registration trial {trial}")
    assert killed >= 1, "no trial caught the registration in progress"
