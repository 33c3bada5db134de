"""A service that follows production: promotions and a rollback during steady traffic are
picked up by every worker within the poll interval, with no failed request, and the request
schema follows a model whose categories differ."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, serve_from_source
from tests.support.airbnb import EXAMPLE_LISTING
from tests.support.processes import stop

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.slow]

# A model that never saw Brooklyn: once it serves, a Brooklyn listing is refused.
_NO_BROOKLYN = """
from tests.conftest import _fit_and_register
import pandas as pd
rows = pd.read_parquet({rows!r})
rows = rows[rows["neighbourhood"] != "Brooklyn"]
print(_fit_and_register(
    {{"kind": "hist_gradient_boosting", "params": {{"max_iter": 30, "random_state": 1}}}},
    rows.drop(columns=["id", "category"]), rows["category"], "no-brooklyn"))
"""


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def store(
    registered: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], list[str]]:
    """A model store with the session's two models and one without Brooklyn (trained once
    for the module; each test takes a copy)."""
    tmp_path = tmp_path_factory.mktemp("follow-store")
    source = Path(os.environ["BENTOML_HOME"])
    home = tmp_path / "bentoml"
    for tag in (registered.tag, registered.baseline_tag):
        name, version = tag.split(":")
        shutil.copytree(source / "models" / name / version, home / "models" / name / version)
        card = Path("mle_challenge") / "cards" / name / f"{version}.json"
        (home / card).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / card, home / card)
    env = {**os.environ, "BENTOML_HOME": str(home), "MLE_PREDICTION_LOG": "off"}
    env.pop("MLE_MODEL_TAG", None)  # start from production, not a model another test pinned
    rows = tmp_path / "rows.parquet"
    registered.rows.to_parquet(rows)
    script = _NO_BROOKLYN.format(rows=str(rows))
    third = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=300, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    return env, [registered.tag, registered.baseline_tag, third]


@pytest.fixture
def machine(
    store: tuple[dict[str, str], list[str]], tmp_path: Path
) -> tuple[dict[str, str], list[str]]:
    """A model store of its own with the session's two models and one without Brooklyn."""
    env, tags = store
    home = shutil.copytree(env["BENTOML_HOME"], tmp_path / "bentoml", symlinks=True)
    return {**env, "BENTOML_HOME": str(home)}, tags


def _traffic(url: str, stop_at: threading.Event, seen: collections.Counter[str]) -> None:
    session = requests.Session()
    while not stop_at.is_set():
        answer = session.post(
            f"{url}/classify", json=EXAMPLE_LISTING | {"neighbourhood": "Manhattan"}, timeout=10
        )
        seen[answer.json()["model"] if answer.ok else f"status {answer.status_code}"] += 1


def _until_served(url: str, tag: str, within: float) -> float:
    """Seconds until 20 answers in a row come from ``tag`` (both workers, surely)."""
    started, streak = time.monotonic(), 0
    while streak < 20:
        assert time.monotonic() - started < within, f"{tag} not served within {within} s"
        body = EXAMPLE_LISTING | {"neighbourhood": "Manhattan"}
        got = requests.post(f"{url}/classify", json=body, timeout=10).json()["model"]
        streak = streak + 1 if got == tag else 0
    return time.monotonic() - started


def test_workers_follow_promotions_and_rollbacks_without_an_error(
    machine: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    """Check five promotions and a rollback under traffic: every one is served within the
    poll interval plus the load, no request fails, and /model tells the answering tag."""
    env, (first, second, no_brooklyn) = machine
    _cli(env, "promote", first, "--force", "--reason", "start")
    follow = {**env, "MLE_FOLLOW_PRODUCTION": "1", "MLE_FOLLOW_SECONDS": "0.5"}
    process, url = serve_from_source(follow, tmp_path / "serve", workers=2)
    seen: collections.Counter[str] = collections.Counter()
    stop_at = threading.Event()
    clients = [threading.Thread(target=_traffic, args=(url, stop_at, seen)) for _ in range(4)]
    try:
        for client in clients:
            client.start()
        for target in (second, first, second, first, second):
            _cli(env, "promote", target, "--force", "--reason", "follow me")
            assert _until_served(url, target, within=15) < 15
        _cli(env, "rollback", "--reason", "back")
        assert _until_served(url, first, within=15) < 15
        assert requests.get(f"{url}/model", timeout=10).json()["tag"] == first
        # A model without Brooklyn: the schema follows it, and the docs name it.
        brooklyn = EXAMPLE_LISTING | {"neighbourhood": "Brooklyn"}
        assert requests.post(f"{url}/classify", json=brooklyn, timeout=10).ok
        _cli(env, "promote", no_brooklyn, "--force", "--reason", "fewer boroughs")
        _until_served(url, no_brooklyn, within=15)
        refused = requests.post(f"{url}/classify", json=brooklyn, timeout=10)
        assert refused.status_code == 400 and "neighbourhood" in refused.text
        docs = requests.get(f"{url}/docs.json", timeout=10).text
        assert no_brooklyn.split(":")[1] in docs
    finally:
        stop_at.set()
        for client in clients:
            client.join()
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        stop(process)
    assert set(seen) <= {first, second, no_brooklyn}, seen  # not one failed request
    assert 'mle_follow_production_total{detail="' in metrics and 'result="swapped"' in metrics


def test_a_bento_built_to_follow_follows_without_being_told(
    machine: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    """``bento build --follow`` writes the choice into the bento: served with no
    MLE_FOLLOW_PRODUCTION, it starts on its own model and moves with production."""
    env, (first, second, _) = machine
    _cli(env, "promote", first, "--force", "--reason", "start")
    bento = _cli(env, "bento", "build", "--model", first, "--follow").strip().splitlines()[-1]
    env = {**env, "MLE_FOLLOW_SECONDS": "0.5"}
    env.pop("MLE_FOLLOW_PRODUCTION", None)
    process, url = serve_from_source(env, tmp_path / "serve", service=bento)
    try:
        assert _until_served(url, first, within=15) < 15
        _cli(env, "promote", second, "--force", "--reason", "the bento follows")
        assert _until_served(url, second, within=15) < 15
    finally:
        stop(process)
