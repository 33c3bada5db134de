"""End to end: the Luigi training pipeline on small synthetic data, with caching and failures.

Each run is a subprocess with its own BENTOML_HOME and outputs folder, as a user would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import FAST_PARAMS, FastTrained

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _write_params(path: Path, params: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(params))
    return path


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}


def _train(
    ws: Path, listings: Path, params: Path, *extra: str, env_home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "mle_challenge.cli",
        "train",
        "--listings",
        str(listings),
        "--params",
        str(params),
        "--outputs",
        str(ws / "out"),
        *extra,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(env_home or ws / "bentoml"),
        check=False,
    )


def _stage_dirs(ws: Path, stage: str) -> set[str]:
    folder = ws / "out" / "cache" / stage
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _mtimes(ws: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in (ws / "out" / "cache").rglob("*") if p.is_file()}


def _models(ws: Path) -> list[str]:
    store = ws / "bentoml" / "models" / "price_classifier"
    return sorted(p.name for p in store.iterdir() if p.is_dir()) if store.exists() else []


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, fast_trained: FastTrained) -> dict[str, Any]:
    """One cold pipeline run on 1,500 synthetic listings (the session's, copied), shared by the
    tests below."""
    ws = fast_trained.copy(tmp_path_factory.mktemp("pipeline"))
    params, result = ws / "params.yaml", fast_trained.result
    return {"ws": ws, "params": params, "listings": fast_trained.listings, "result": result}


def test_cold_run_registers_a_model(trained: dict[str, Any]) -> None:
    """Check that a cold run trains every candidate and registers exactly one model."""
    ws, out = trained["ws"], trained["result"].stdout
    assert "registered: price_classifier:" in out
    assert "baseline_rf" in out and "hist_gb" in out
    assert len(_models(ws)) == 1
    assert len(_stage_dirs(ws, "train")) == 2
    assert list((ws / "out" / "cache" / "select").glob("*/report.html"))


def test_registered_model_contract(trained: dict[str, Any]) -> None:
    """Check the registered model: loads by tag, predicts labels from API-named columns, lineage."""
    code = """
import json, sys, bentoml, pandas as pd
from mle_challenge.model.features import API_FEATURES
model_ref = bentoml.models.get("price_classifier:latest")
model = bentoml.sklearn.load_model(model_ref.tag)
row = {"accommodates": 4, "room_type": "Entire home/apt", "beds": 2, "bedrooms": 1,
       "bathrooms": 2, "neighbourhood": "Brooklyn", "tv": 1, "elevator": 1, "internet": 0,
       "latitude": 40.71383, "longitude": -73.9658}
frame = pd.DataFrame([row])[list(API_FEATURES)]
print(json.dumps({"pred": model.predict(frame).tolist(), "classes": model.classes_.tolist(),
                  "proba": model.predict_proba(frame).shape[1],
                  "labels": model_ref.info.labels, "metadata": model_ref.info.metadata}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(trained["ws"] / "bentoml"),
        timeout=120,
        check=True,
    )
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["pred"][0] in {"Low", "Mid", "High", "Lux"}
    assert sorted(info["classes"]) == ["High", "Low", "Lux", "Mid"] and info["proba"] == 4
    meta = info["metadata"]
    for key in (
        "metrics",
        "params",
        "data_fingerprint",
        "code_version",
        "trained_at",
        "libraries",
        "feature_schema",
        "report",
    ):
        assert key in meta, key
    assert meta["feature_schema"][0] == "accommodates"
    assert info["labels"]["fingerprint"]


def test_rerun_with_nothing_changed_runs_nothing(trained: dict[str, Any]) -> None:
    """Check that a second identical run rewrites no output and registers no new version."""
    ws = trained["ws"]
    before, models = _mtimes(ws), _models(ws)
    result = _train(ws, trained["listings"], trained["params"])
    assert result.returncode == 0, result.stderr
    assert _mtimes(ws) == before
    assert _models(ws) == models
    assert "ran successfully" not in result.stdout.split("TrainingPipeline")[0]


def test_changed_training_param_reruns_only_downstream(trained: dict[str, Any]) -> None:
    """Check that a new training parameter keeps preprocess and split, retrains, re-registers."""
    ws = trained["ws"]
    pre, split = _stage_dirs(ws, "preprocess"), _stage_dirs(ws, "split")
    before = _mtimes(ws)
    params = json.loads(json.dumps(FAST_PARAMS))
    params["train"]["candidates"]["hist_gb"]["params"]["max_iter"] = 41
    result = _train(ws, trained["listings"], _write_params(ws / "p2.yaml", params))
    assert result.returncode == 0, result.stderr
    assert _stage_dirs(ws, "preprocess") == pre and _stage_dirs(ws, "split") == split
    kept = {p: t for p, t in _mtimes(ws).items() if "/preprocess/" in p or "/split/" in p}
    assert kept and all(before[p] == t for p, t in kept.items())
    assert len(_stage_dirs(ws, "train")) == 3  # baseline reused, hist_gb retrained
    assert len(_models(ws)) == 2


def test_quantile_prices_rerun_from_the_split_and_are_saved_in_the_model(
    trained: dict[str, Any],
) -> None:
    """Check that ``prices: {edges: quantile}`` keeps the clean table, cuts the categories at
    the training rows' quartiles, and that the model carries those edges."""
    import pandas as pd

    ws = trained["ws"]
    pre, split = _stage_dirs(ws, "preprocess"), _stage_dirs(ws, "split")
    params = json.loads(json.dumps(FAST_PARAMS)) | {"prices": {"edges": "quantile"}}
    result = _train(ws, trained["listings"], _write_params(ws / "quantile.yaml", params))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _stage_dirs(ws, "preprocess") == pre
    (new,) = _stage_dirs(ws, "split") - split
    parts = json.loads((ws / "out" / "cache" / "split" / new / "split.json").read_text())
    clean = pd.read_parquet(next((ws / "out" / "cache" / "preprocess").glob("*/clean.parquet")))
    prices = clean[clean["id"].isin(parts["train"])]["price"]
    quartiles = [float(round(q)) for q in prices.quantile([0.25, 0.5, 0.75])]
    assert parts["price_edges"] == quartiles and parts["price_rule"] == "quantile"
    tag = _tag(result)
    code = f"import bentoml, json; print(json.dumps(bentoml.models.get({tag!r}).info.metadata))"
    shown = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=_env(ws / "bentoml"), timeout=120, check=True,
    )  # fmt: skip
    city = json.loads(shown.stdout.strip().splitlines()[-1])["city"]
    assert city["price_edges"] == quartiles and city["price_rule"] == "quantile"


def test_changed_listings_rerun_everything(trained: dict[str, Any], tmp_path: Path) -> None:
    """Check that different listings content re-runs preprocessing and everything after."""
    from mle_challenge.data.synthetic import generate_listings

    ws = trained["ws"]
    pre = _stage_dirs(ws, "preprocess")
    other = tmp_path / "other.csv"
    generate_listings(1200, seed=11).to_csv(other, index=False)
    result = _train(ws, other, trained["params"])
    assert result.returncode == 0, result.stderr
    assert len(_stage_dirs(ws, "preprocess") - pre) == 1


def _tag(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.split("registered: ")[1].split()[0]


def test_the_cache_never_vouches_for_a_model_the_store_lacks(
    tmp_path: Path, synthetic_csv: Path, fast_trained: FastTrained
) -> None:
    """Check that with the registered model deleted, or with a new BENTOML_HOME, the same
    command registers the model again (the cache used to print a tag that was not there)."""
    params = fast_trained.copy(tmp_path) / "params.yaml"  # as a first, cold run here leaves it
    tag = _tag(fast_trained.result)
    shutil.rmtree(tmp_path / "bentoml" / "models" / "price_classifier" / tag.split(":")[1])

    again = _train(tmp_path, synthetic_csv, params, "--promote")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "bentoml" / "models" / "price_classifier").is_dir()
    assert len(_models(tmp_path)) == 1 and _tag(again).split(":")[1] in _models(tmp_path)

    moved = _train(tmp_path, synthetic_csv, params, env_home=tmp_path / "another-home")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    other = tmp_path / "another-home" / "models" / "price_classifier"
    assert [p.name for p in other.iterdir() if p.is_dir()] == [_tag(moved).split(":")[1]]


def test_a_missing_production_model_is_a_clear_error(
    tmp_path: Path, synthetic_csv: Path, fast_trained: FastTrained
) -> None:
    """Check that training with the production model deleted says what to do, not NotFound."""
    params = fast_trained.copy(tmp_path) / "params.yaml"  # trained: this run only promotes
    first = _train(tmp_path, synthetic_csv, params, "--promote")
    assert first.returncode == 0, first.stdout + first.stderr
    shutil.rmtree(tmp_path / "bentoml" / "models" / "price_classifier")
    again = _train(tmp_path, synthetic_csv, params)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "production model" in again.stderr and "rollback" in again.stderr
    assert "Traceback" not in again.stderr + again.stdout


def test_failing_task_exits_non_zero(tmp_path: Path, synthetic_csv: Path) -> None:
    """Check that a task failure (bad model parameter) exits 2 with one line naming the
    parameter, not Luigi's traceback, and registers nothing."""
    params = json.loads(json.dumps(FAST_PARAMS))
    params["train"]["candidates"]["hist_gb"]["params"]["no_such_param"] = 1
    result = _train(tmp_path, synthetic_csv, _write_params(tmp_path / "p.yaml", params))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "invalid parameters for candidate" in errors[0]
    assert "no_such_param" in errors[0] and "Traceback" not in result.stderr
    assert not _models(tmp_path)


def test_missing_listings_is_a_clear_error(tmp_path: Path) -> None:
    """Check that a missing listings file is one clear line, exit 2, before Luigi starts."""
    params = _write_params(tmp_path / "p.yaml", FAST_PARAMS)
    result = _train(tmp_path, tmp_path / "absent.csv", params)
    assert result.returncode == 2
    assert "not found" in result.stderr and "Traceback" not in result.stderr


def test_luigi_command_exit_code(tmp_path: Path) -> None:
    """Check that the plain `luigi` command exits non-zero (our [retcode]) when a task fails."""
    bad = tmp_path / "bad.csv"
    bad.write_text("id,price\n1,$5.00\n")
    params = _write_params(tmp_path / "p.yaml", FAST_PARAMS)
    luigi_bin = Path(sys.executable).with_name("luigi")
    result = subprocess.run(
        [
            str(luigi_bin),
            "--module",
            "mle_challenge.pipeline",
            "TrainingPipeline",
            "--listings",
            str(bad),
            "--params",
            str(params),
            "--root",
            str(tmp_path / "out"),
            "--local-scheduler",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path / "bentoml"),
        check=False,
    )
    assert result.returncode == 30, result.stdout + result.stderr
    assert "missing required column" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def luigid(tmp_path: Path) -> Iterator[str]:
    """Luigi's central scheduler on a free loopback port, stopped after the test."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("luigid")),
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-path",
            str(tmp_path / "state.pickle"),
            "--logdir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("luigid did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_central_scheduler_with_two_workers(
    luigid: str, tmp_path: Path, synthetic_csv: Path
) -> None:
    """Check a run through luigid on loopback with two workers training candidates in parallel."""
    params = _write_params(tmp_path / "p.yaml", FAST_PARAMS)
    result = _train(tmp_path, synthetic_csv, params, "--workers", "2", "--scheduler-url", luigid)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registered: price_classifier:" in result.stdout
    assert len(_stage_dirs(tmp_path, "train")) == 2
