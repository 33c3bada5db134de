"""Helpers of the end-to-end tests, and the small training run that several of them share."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

# Two small candidates on the session's 1,500 synthetic listings: the pipeline's caching,
# failure and crash tests are about the wiring, not the model.
FAST_PARAMS: dict[str, Any] = {
    "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 1},
    "train": {
        "candidates": {
            "baseline_rf": {
                "kind": "baseline_random_forest",
                "params": {"n_estimators": 20, "random_state": 0, "class_weight": "balanced"},
            },
            "hist_gb": {
                "kind": "hist_gradient_boosting",
                "params": {"max_iter": 40, "random_state": 0},
                "decision": {"folds": 3},
            },
        }
    },
    "select": {"metric": "macro_f1"},
    "register": {"model_name": "price_classifier"},
}


@dataclass(frozen=True)
class FastTrained:
    """A cold `train` of FAST_PARAMS on ``synthetic_csv``: its outputs in ``ws/out``, its model
    store in ``ws/bentoml``, its parameters in ``ws/params.yaml``. Read-only: a test that
    changes the state takes a :meth:`copy`."""

    ws: Path
    listings: Path
    result: subprocess.CompletedProcess[str]
    seconds: float  # the cold run's wall time

    def copy(self, to: Path) -> Path:
        """``to`` holding what a cold run there leaves, without running it: the cache keys
        and the content hashes do not depend on the folder (the rerun finds every output)."""
        shutil.copytree(self.ws, to, symlinks=True, dirs_exist_ok=True)
        return to


@pytest.fixture(scope="session")
def fast_trained(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> FastTrained:
    """The session's one cold FAST_PARAMS run, which the pipeline's and the crash tests
    start from instead of training the same model again each."""
    ws = tmp_path_factory.mktemp("fast-trained")
    (ws / "params.yaml").write_text(yaml.safe_dump(FAST_PARAMS))
    command = [sys.executable, "-m", "mle_challenge.cli", "train", "--listings", str(synthetic_csv),
               "--params", str(ws / "params.yaml"), "--outputs", str(ws / "out")]  # fmt: skip
    env = {**os.environ, "BENTOML_HOME": str(ws / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, check=False
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    return FastTrained(ws, synthetic_csv, result, seconds)


class Cli:
    """``mle-challenge`` in a child process, on a BentoML home of this test's own."""

    def __init__(self, tmp_path: Path, params: dict[str, Any] | None = None) -> None:
        unset = ("MLE_REGISTRY", "MLE_MODEL_TAG", "MLE_MODEL_NAME")
        self.home = tmp_path / "home"
        self.env = {k: v for k, v in os.environ.items() if k not in unset}
        self.env |= {"BENTOML_HOME": str(self.home), "MLE_PREDICTION_LOG": "off"}
        # Two trainings run at once: OpenMP threads of each would spin against the other's.
        self.env["OMP_NUM_THREADS"] = "1"
        # No params: the project's params.yaml, as `make run` reads it.
        self.params, self.outputs = tmp_path / "params.yaml", tmp_path / "outputs"
        text = yaml.safe_dump(params) if params else (ROOT / "params.yaml").read_text()
        self.params.write_text(text)

    def __call__(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mle_challenge.cli", *args],
            capture_output=True, text=True, cwd=ROOT, env=self.env, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == code, f"{args}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout + done.stderr

    def train(self, listings: Path, *args: str) -> str:
        """Train (sharing one outputs folder, so the same data is trained once); the tag."""
        out = self("train", "--listings", str(listings), "--params", str(self.params),
                   "--outputs", str(self.outputs), *args)  # fmt: skip
        return next(line for line in out.splitlines() if line.startswith("registered: ")).split()[1]

    # Read from the files the commands keep (docs/operations.md): a child process each
    # would double the test's time. The commands that print them are checked once.
    def production(self, name: str) -> str:
        alias = self.home / "mle_challenge" / "aliases" / name / "production.json"
        return str(json.loads(alias.read_text())["tag"])

    def history(self, name: str) -> list[tuple[str, str]]:
        """(action, to) of each event of ``name``'s history."""
        log = self.home / "mle_challenge" / "aliases" / name / "history.jsonl"
        return [(e["action"], e["to"]) for e in map(json.loads, log.read_text().splitlines())]
