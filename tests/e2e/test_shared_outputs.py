"""The pipeline across machines: two Luigi workers with their own folders and model stores,
one ``luigid`` on loopback, and the content-addressed cache shared on S3 (SeaweedFS)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from mle_challenge.config import get_settings
from mle_challenge.data.synthetic import generate_listings
from mle_challenge.lifecycle.outputs import Outputs, OutputsError
from tests.conftest import ROOT
from tests.support.processes import S3, free_port, start, stop, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Two candidates, so that both workers have something to take at once.
PARAMS: dict[str, Any] = {
    "train": {
        "candidates": {
            "hist_gb": {"kind": "hist_gradient_boosting", "params": {"max_iter": 40}},
            "baseline_rf": {
                "kind": "baseline_random_forest",
                "params": {"n_estimators": 40, "random_state": 0, "n_jobs": 1},
            },
        }
    },
    "gate": {"max_regression": 0.2, "min_accuracy": 0.3, "min_macro_f1": 0.2,
             "min_roc_auc_ovr": 0.5},
}  # fmt: skip
# one of each, a second TrainCandidate and EvaluateCandidate, and the TrainingPipeline
STAGES = ("Preprocess", "Split", "TrainCandidate", "EvaluateCandidate", "SelectModel", "RefitModel",
          "RegisterModel", "GateModel")  # fmt: skip


def _ran(summary: str) -> int:
    """How many tasks a worker ran, from Luigi's summary (0 when it ran none)."""
    found = re.search(r"\* (\d+) ran successfully", summary)
    return int(found.group(1)) if found else 0


def _scheduled(summary: str) -> int:
    return int(re.search(r"Scheduled (\d+) tasks", summary).group(1))  # type: ignore[union-attr]


def test_two_workers_share_one_cache_and_run_each_task_once(s3: S3, tmp_path: Path) -> None:
    prefix = f"s3://mle-bucket/shared-{uuid.uuid4().hex[:8]}"
    listings, outputs = f"{prefix}/listings.csv", f"{prefix}/outputs"
    local = tmp_path / "listings.csv"
    generate_listings(3000, 5).to_csv(local, index=False)
    s3.fs().put_file(str(local), listings.removeprefix("s3://"))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))

    port = free_port()
    scheduler_home = tmp_path / "scheduler"
    luigid = start(
        [sys.executable, "-m", "mle_challenge.cli", "luigid", "--outputs", outputs,
         "--port", str(port)],
        s3.env(BENTOML_HOME=str(scheduler_home)),
        tmp_path / "luigid.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def machine(name: str) -> tuple[dict[str, str], Path]:
        folder = tmp_path / name
        folder.mkdir()
        env = s3.env(
            BENTOML_HOME=str(folder / "bentoml"),
            MLE_REGISTRY=f"{prefix}/registry",
            MLE_PREDICTION_LOG="off",
        )
        env.pop("MLE_MODEL_TAG", None)
        return env, folder

    train = [sys.executable, "-m", "mle_challenge.cli", "train", "--listings", listings,
             "--params", str(params), "--outputs", outputs, "--scheduler-url", url]  # fmt: skip
    try:
        wait_ready(url, luigid, path="/api/graph")
        machines = [machine("a"), machine("b")]
        workers = [
            subprocess.Popen(
                train,
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for env, folder in machines
        ]
        outs = [w.communicate(timeout=600)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], "\n".join(outs)
        tags = {re.search(r"registered: (\S+)", out).group(1) for out in outs}  # type: ignore[union-attr]
        assert len(tags) == 1, outs  # the same model, registered once

        # Both scheduled the same tasks, all are complete, and the two ran as many as there are:
        # so each ran exactly once, on one of them.
        assert _scheduled(outs[0]) == _scheduled(outs[1]) == len(STAGES) + 3
        assert _ran(outs[0]) + _ran(outs[1]) == len(STAGES) + 3, "\n".join(outs)

        for env, folder in machines:  # a re-run on either runs nothing, and finds the model
            again = subprocess.run(train, cwd=folder, env=env, capture_output=True, text=True,
                                   timeout=300, check=False)  # fmt: skip
            assert again.returncode == 0, again.stdout + again.stderr
            assert _ran(again.stdout) == 0, again.stdout
            assert f"registered: {next(iter(tags))}" in again.stdout
    finally:
        stop(luigid)
    # luigid keeps its state under the outputs' folder on its machine
    assert list((scheduler_home / "mle_challenge" / "outputs").rglob("luigid/state.pickle"))


def test_a_folder_is_complete_only_once_its_output_file_is_published(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def machine(name: str) -> Outputs:  # another state folder: another mirror of the root
        monkeypatch.setattr("mle_challenge.lifecycle.store.state_dir", lambda: tmp_path / name)
        return Outputs(root)

    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    root = f"s3://mle-bucket/publish-{uuid.uuid4().hex[:8]}"
    here = machine("here")
    folder = here.local / "cache/train/abc"
    folder.mkdir(parents=True)
    (folder / "figure.png").write_bytes(b"png")
    (folder / "model.joblib").write_bytes(b"model")
    try:
        # cut off before its output file: what reached the bucket does not count
        s3.fs().put_file(str(folder / "figure.png"), f"{root[5:]}/cache/train/abc/figure.png")
        assert not here.exists("cache/train/abc/model.joblib")
        with pytest.raises(OutputsError, match="not published"):
            machine("there").fetch("cache/train/abc", "model.joblib")

        machine("here").publish("cache/train/abc", "model.joblib")
        there = machine("there")
        assert there.exists("cache/train/abc/model.joblib")
        fetched = there.fetch("cache/train/abc", "model.joblib")
        assert fetched != folder
        assert (fetched / "model.joblib").read_bytes() == b"model"
        assert (fetched / "figure.png").read_bytes() == b"png"
    finally:
        get_settings.cache_clear()


def test_shared_outputs_out_of_reach_are_one_clear_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "BENTOML_HOME": str(tmp_path / "home"),
    }
    listings = tmp_path / "listings.csv"
    generate_listings(300, 1).to_csv(listings, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", "train", "--listings", str(listings),
         "--outputs", "s3://mle-bucket/nowhere"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot use the shared outputs s3://mle-bucket/nowhere" in done.stderr
    assert "Traceback" not in done.stderr
