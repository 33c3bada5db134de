"""End to end: commands run from a folder other than the project's read the packaged defaults,
a folder's own params.yaml, or --params, and say which (the CLI as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mle_challenge.config import PACKAGED_PARAMS

pytestmark = pytest.mark.e2e


def _cli(folder: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """``mle-challenge ARGS`` run in ``folder``, with a model store of its own there."""
    env = {**os.environ, "BENTOML_HOME": str(folder / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    command = [sys.executable, "-m", "mle_challenge.cli", *args]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("own_file", "expected"),
    [(False, f"{PACKAGED_PARAMS} (packaged defaults)"), (True, "(current folder)")],
    ids=["no-file", "own-file"],
)
def test_monitor_reads_the_folder_file_else_the_packaged_one(
    tmp_path: Path, own_file: bool, expected: str
) -> None:
    """Check that `monitor` without --params reads ./params.yaml, else the packaged copy."""
    if own_file:
        (tmp_path / "params.yaml").write_text(PACKAGED_PARAMS.read_text())
        expected = f"{tmp_path.resolve() / 'params.yaml'} {expected}"
    done = _cli(tmp_path, "monitor", "--log", f"sqlite:///{tmp_path}/log.db", "--report", "r")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"parameters: {expected}\n" in done.stdout


def test_missing_params_file_is_a_clear_error(tmp_path: Path) -> None:
    """Check that `train --params` naming no file exits 2 naming it, before any training."""
    done = _cli(tmp_path, "train", "--listings", "absent.csv", "--params", "absent.yaml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"parameter file not found: {tmp_path.resolve() / 'absent.yaml'}" in done.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_train_outside_the_project_uses_the_packaged_defaults(tmp_path: Path) -> None:
    """Check that `train` in a folder without params.yaml trains with the packaged defaults
    (the issue's case). 20 to 45 s on 2 cores: the defaults' 600 boosting rounds, 6 times."""
    synth = _cli(tmp_path, "data", "synth", "--rows", "400", "--output", "listings.csv.gz")
    assert synth.returncode == 0, synth.stderr
    done = _cli(tmp_path, "train", "--listings", "listings.csv.gz", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"parameters: {PACKAGED_PARAMS} (packaged defaults)\n")
    assert "registered: price_classifier:" in done.stdout
    assert "baseline_rf" in done.stdout and "hist_gb" in done.stdout  # the defaults' candidates
