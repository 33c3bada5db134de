"""Helpers of the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT


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
