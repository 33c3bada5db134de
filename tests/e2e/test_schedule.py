"""End to end: `mle-challenge schedule` as a user runs it, in subprocesses with their own
BENTOML_HOME: --once runs that promote, find nothing new, or judge a later month; the
long-running process over HTTP; SIGTERM in the middle of a training run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# One small candidate: the tests are about the scheduler, not the model.
PARAMS: dict[str, Any] = {
    "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 1},
    "train": {
        "candidates": {
            "hist_gb": {"kind": "hist_gradient_boosting", "params": {"max_iter": 30}},
        }
    },
    "select": {"metric": "macro_f1"},
    "register": {"model_name": "price_classifier"},
}


@dataclass(frozen=True)
class Workspace:
    root: Path
    env: dict[str, str]
    params: Path
    listings: Path  # the first scrape
    first: subprocess.CompletedProcess[str]  # its --once run, which promoted

    def history(self) -> list[dict[str, Any]]:
        path = self.root / "bentoml" / "mle_challenge" / "aliases" / "price_classifier"
        lines = (path / "history.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def runs(self) -> list[dict[str, Any]]:
        return [e for e in self.history() if e["action"] == "run"]

    def production(self) -> str | None:
        path = self.root / "bentoml" / "mle_challenge" / "aliases" / "price_classifier"
        alias = path / "production.json"
        return str(json.loads(alias.read_text())["tag"]) if alias.is_file() else None

    def models(self) -> list[str]:
        store = self.root / "bentoml" / "models" / "price_classifier"
        return sorted(p.name for p in store.iterdir() if p.is_dir())

    def command(self, listings: Path, *args: str) -> list[str]:
        command = [sys.executable, "-m", "mle_challenge.cli", "schedule"]
        command += ["--listings", str(listings), "--params", str(self.params)]
        return [*command, "--outputs", str(self.root / "out"), *args]

    def once(self, listings: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(listings, "--once"),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=False,
        )


def _csv(path: Path, **later: Any) -> Path:
    from mle_challenge.data.synthetic import generate_listings

    generate_listings(1500, 21, **later).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A model store and outputs of their own, and a first `--once` run on a first scrape."""
    root = tmp_path_factory.mktemp("schedule")
    env = {**os.environ, "BENTOML_HOME": str(root / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    listings = _csv(root / "month0.csv.gz")
    partial = Workspace(root, env, params, listings, subprocess.CompletedProcess([], 0))
    return Workspace(root, env, params, listings, partial.once(listings))


def test_the_first_once_trains_and_promotes(ws: Workspace) -> None:
    """Check that a first run on an empty store trains, promotes as the scheduler, exits 0."""
    assert ws.first.returncode == 0, ws.first.stdout + ws.first.stderr
    assert ws.first.stdout.startswith("promoted price_classifier:")
    run = ws.runs()[0]
    assert run["outcome"] == "promoted" and run["user"] == "scheduler"
    assert run["tag"] == ws.production() and run["from"] is None and run["to"] == run["tag"]
    promote = next(e for e in ws.history() if e["action"] == "promote")
    assert promote["user"] == "scheduler" and promote["to"] == run["tag"]
    assert promote["reason"] == f"scheduled run: trained on {ws.listings}"
    assert run["reason"].startswith("run now (--once)")


def test_a_second_once_on_the_same_file_is_unchanged_and_fast(ws: Workspace) -> None:
    """Check that an unchanged file registers and promotes nothing, and takes seconds."""
    models, production = ws.models(), ws.production()
    done = ws.once(ws.listings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"unchanged {production}")
    last = ws.runs()[-1]
    assert last["outcome"] == "unchanged" and last["tag"] == production
    # fast because the cache found every stage up to the model: only the gate ran again (its
    # no-regression check now compares with the model the first run promoted). A figure in
    # seconds is no test on a loaded machine; the stages' progress lines say what ran.
    logs = sorted((ws.root / "out" / "schedule" / "runs").glob("*/train.log"))
    progress = re.findall(r"^\[[^]]+\] (\w+)", logs[-1].read_text(), flags=re.MULTILINE)
    assert set(progress) == {"gate"}, logs[-1].read_text()
    assert ws.models() == models and ws.production() == production
    shown = subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", "models", "history"],
        capture_output=True,
        text=True,
        env=ws.env,
        check=True,
    ).stdout
    # production stays, and the run names its model as its own, not as production's
    expected = f"{production} stays  [run unchanged, its model {production}] run now (--once)"
    assert expected in shown.splitlines()[-1]
    assert done.stderr.count(done.stdout.strip()) == 0  # the outcome once: on stdout alone


def test_a_later_month_is_a_new_model_promoted_or_refused(ws: Workspace) -> None:
    """Check that a later scrape gives a new model, judged by the gate (with its no-regression
    check against production), and that the exit status follows the outcome."""
    production = ws.production()
    later = _csv(ws.root / "month1.csv.gz", month=1, shift=0.3)
    done = ws.once(later)
    last = ws.runs()[-1]
    assert last["outcome"] in ("promoted", "gate-failed"), done.stdout + done.stderr
    assert last["tag"] not in (None, production) and last["from"] == production
    assert done.returncode == (0 if last["outcome"] == "promoted" else 1)
    assert ws.production() == (last["tag"] if last["outcome"] == "promoted" else production)
    if last["outcome"] == "gate-failed":
        assert "failed its gate (" in last["reason"]


def _start(ws: Workspace, listings: Path, port: int) -> subprocess.Popen[bytes]:
    log = (ws.root / f"schedule-{port}.log").open("wb")
    command = ws.command(listings, "--every", "1", "--port", str(port), "--monitor")
    return subprocess.Popen(command, env=ws.env, stdout=log, stderr=subprocess.STDOUT)


def _health(url: str) -> dict[str, Any]:
    try:
        return dict(requests.get(f"{url}/healthz", timeout=2).json())
    except requests.RequestException:
        return {}


def _until(condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the scheduler exited with {process.returncode}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return code, time.monotonic() - started


def test_the_long_running_process_serves_health_and_metrics_and_stops_on_sigterm(
    ws: Workspace,
) -> None:
    """Check the long-running mode over HTTP: runs on its schedule (here unchanged ones),
    /healthz and /metrics with the monitoring gauges; SIGTERM exits 0 within seconds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    before = len(ws.runs())
    process = _start(ws, ws.listings, port)
    try:
        _until(lambda: _health(url).get("last_outcome") == "unchanged", process, 90)
        health = _health(url)
        assert health["status"] == "ok" and health["next_run"]
        metrics = requests.get(f"{url}/metrics", timeout=5)
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert 'mle_schedule_runs_total{outcome="unchanged"}' in text
        assert 'mle_schedule_last_outcome{outcome="unchanged"} 1.0' in text
        assert "mle_schedule_last_success_timestamp_seconds 0.0" not in text
        assert "mle_monitor_alarm 0.0" in text  # the monitor ran on the (empty) prediction log
        assert requests.get(f"{url}/nothing", timeout=5).status_code == 404
    finally:
        code, seconds = _stop(process)
    assert code == 0 and seconds < 10
    runs = ws.runs()[before:]
    assert runs and {r["outcome"] for r in runs} <= {"unchanged", "skipped", "interrupted"}
    with pytest.raises(requests.RequestException):
        requests.get(f"{url}/healthz", timeout=2)


def test_sigterm_during_a_training_run_interrupts_it_cleanly(ws: Workspace) -> None:
    """Check SIGTERM mid-training: the child is stopped, the run is `interrupted` (ticks that
    came meanwhile `skipped`), exit 0 within seconds, nothing promoted or half-registered."""
    import psutil

    from mle_challenge.lifecycle.store import matches

    production, models, before = ws.production(), ws.models(), len(ws.runs())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start(ws, _csv(ws.root / "month2.csv.gz", month=2, shift=0.1), port)
    try:
        _until(lambda: _health(url).get("running") is True, process, 60)
        _until(lambda: bool(psutil.Process(process.pid).children()), process, 10)
        time.sleep(2.5)  # mid-training, and a tick or two have come meanwhile
        children = psutil.Process(process.pid).children(recursive=True)
        assert _health(url)["running"] is True  # still training: this run is cut off
    finally:
        code, seconds = _stop(process)
    assert code == 0 and seconds < 10
    assert children and not [c for c in children if c.is_running() and c.status() != "zombie"]
    runs = ws.runs()[before:]
    assert runs[-1]["outcome"] == "interrupted" and "stopped by a signal" in runs[-1]["reason"]
    assert {r["outcome"] for r in runs[:-1]} == {"skipped"}
    assert ws.production() == production
    newest = sorted((ws.root / "out" / "schedule" / "runs").iterdir())[-1]
    assert (newest / "train.log").is_file() and not (newest / "train.json").exists()
    cards = ws.root / "bentoml" / "mle_challenge" / "cards" / "price_classifier"
    for version in ws.models():  # whatever the store holds is whole and matches its card
        card = json.loads((cards / f"{version}.json").read_text())
        folder = ws.root / "bentoml" / "models" / "price_classifier" / version
        assert matches(folder, card["content_hash"]), version
    assert set(models) <= set(ws.models())
