"""The loop the README tours: serve, log every answer, monitor drift and realized performance.

The session's model was trained on synthetic month 0 (seed 5). The service answers month-1
listings of the same market, then of a moved one (shift 0.5); month 2 of each gives the prices
those listings went on to have.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import luigi
import pytest

from mle_challenge.cli import main
from mle_challenge.data.synthetic import generate_listings
from mle_challenge.monitoring.realized import NOT_IN_FILE
from mle_challenge.serving.client import PriceClient, listings_from_file
from tests.conftest import serve_from_source
from tests.support.processes import Postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED, ROWS = 5, 3000  # the session model's training data (tests/conftest.py)


def _month(folder: Path, month: int, shift: float) -> str:
    path = folder / f"month{month}-shift{shift:g}.csv.gz"
    generate_listings(ROWS, SEED, month=month, shift=shift).to_csv(path, index=False)
    return str(path)


def _monitor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, dict[str, Any]]:
    code = main(["monitor", *args])
    out = capsys.readouterr()
    report = Path(args[args.index("--report") + 1])
    summary = json.loads((report / "summary.json").read_text()) if report.is_dir() else {}
    return code, out.out + out.err, summary


@pytest.fixture(scope="module")
def served_log(registered: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The service logging into SQLite: 900 month-1 listings of the same market, then 900 of
    a moved one; the times between the two phases, and the later months' files."""
    folder = tmp_path_factory.mktemp("monitor")
    url = f"sqlite:///{folder / 'log.sqlite'}"
    env = {**os.environ, "MLE_MODEL_TAG": registered.tag, "MLE_PREDICTION_LOG": url}
    same, moved = _month(folder, 1, 0.0), _month(folder, 1, 0.5)
    process, service = serve_from_source(env, folder / "serve")
    client = PriceClient(service)
    times = [datetime.now(UTC)]
    answered = [len(client.classify_batch(listings_from_file(same, sample=900)))]
    time.sleep(0.5)
    times.append(datetime.now(UTC))
    answered.append(len(client.classify_batch(listings_from_file(moved, sample=900))))
    time.sleep(0.5)
    times.append(datetime.now(UTC))
    process.send_signal(signal.SIGTERM)  # a graceful stop writes every answer
    process.wait(timeout=60)
    # The next scrape, a month on, after the answers were given.
    later = {"same": _month(folder, 2, 0.0), "moved": _month(folder, 2, 0.5)}
    return {"url": url, "times": [t.isoformat() for t in times], "answered": answered, **later}


def test_the_same_market_raises_no_alarm_and_realized_figures_are_joined(
    served_log: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check phase one: exit 0, nothing drifted, and realized accuracy from month 2's prices
    with every unjoined prediction counted by reason."""
    t0, t1, _ = served_log["times"]
    report = tmp_path / "report"
    code, out, summary = _monitor(
        capsys, "--report", str(report), "--log", served_log["url"], "--from", t0, "--to", t1,
        "--actuals", served_log["same"],
    )  # fmt: skip
    assert code == 0, out
    assert summary["window"]["rows"] == served_log["answered"][0] == 900
    (drift,) = summary["drift"].values()
    assert drift["judged"] and not any(f["drifted"] for f in drift["fields"].values())
    realized = summary["realized"]
    assert realized["joined"] + sum(realized["not_joined"].values()) == 900
    assert realized["joined"] > 0.85 * 900 and realized["not_joined"].get(NOT_IN_FILE, 0) > 0
    (figures,) = realized["by_model"].values()
    assert figures["accuracy"] > figures["test"]["accuracy"] - 0.05
    assert "alarm: no" in out
    page = (report / "report.html").read_text()
    assert page.count("<img") >= 4 and "Realized performance" in page
    gauges = (report / "metrics.prom").read_text()
    assert "mle_drift_share{" in gauges and "mle_realized_accuracy{" in gauges
    assert 'mle_feature_psi{feature="latitude"' in gauges


def test_a_moved_market_exits_non_zero_naming_what_moved(
    served_log: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check phase two: drifted fields and the later prices' fall in accuracy are alarms, and
    the exit status is 1."""
    _, t1, t2 = served_log["times"]
    code, out, summary = _monitor(
        capsys, "--report", str(tmp_path / "r"), "--log", served_log["url"], "--from", t1,
        "--to", t2, "--actuals", served_log["moved"],
    )  # fmt: skip
    assert code == 1, out
    (drift,) = summary["drift"].values()
    assert drift["drift_share"] >= summary["thresholds"]["max_drift_share"]
    assert any("input fields drifted" in a for a in summary["alarms"])
    (figures,) = summary["realized"]["by_model"].values()
    assert figures["accuracy"] < figures["test"]["accuracy"] - 0.05  # prices rose 28%
    assert any("realized accuracy" in a for a in summary["alarms"])
    assert "ALARM:" in out


def test_monitor_model_task_writes_its_report_and_fails_on_alarm(
    served_log: dict[str, Any], tmp_path: Path
) -> None:
    """Check the Luigi task on the moved phase (the window that ends at ``until``): the report
    is written either way, and the task fails only with fail_on_alarm."""
    from mle_challenge.pipeline import MonitorModel

    _, t1, t2 = served_log["times"]
    common = {"log": served_log["url"], "start": t1, "until": t2}
    reported = MonitorModel(**common, root=str(tmp_path), fail_on_alarm=False)
    assert luigi.build([reported], local_scheduler=True, log_level="WARNING")
    summary = json.loads(Path(reported.output().path).read_text())
    assert summary["alarm"] and summary["window"]["rows"] == 900
    failing = MonitorModel(**common, root=str(tmp_path / "strict"))
    result = luigi.build(
        [failing], local_scheduler=True, log_level="WARNING", detailed_summary=True
    )
    assert result.status.name == "FAILED"
    assert Path(failing.output().path).is_file()  # the report is there to read


def test_a_batch_run_is_a_window_and_a_model_without_profile_is_explained(
    registered: Any, served_log: dict[str, Any], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Check --batch: the run's input and output are the window (its input found in the log);
    a model registered before profiles existed gets a note, not a traceback."""
    from mle_challenge.config import get_settings

    monkeypatch.setenv("MLE_PREDICTION_LOG", served_log["url"])
    get_settings.cache_clear()
    listings = _month(tmp_path, 1, 0.5)
    for tag, name in ((registered.tag, "gb"), (registered.baseline_tag, "rf")):
        output = str(tmp_path / f"{name}.parquet")
        assert main(["predict", "--input", listings, "--output", output, "--model", tag]) == 0
        code, out, summary = _monitor(
            capsys, "--report", str(tmp_path / f"report-{name}"), "--batch", output
        )
        assert summary["window"]["source"].startswith(f"batch run {listings}")
        assert summary["window"]["rows"] > 0.9 * ROWS
        if name == "gb":
            assert code == 1 and summary["drift"][tag]["judged"]  # the moved month
        else:
            assert code == 0, out
            assert "no reference profile" in summary["drift"][tag]["problem"]
            assert "Train it again" in out
    get_settings.cache_clear()


def test_monitoring_reads_a_postgresql_log(
    registered: Any, postgres: Postgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check the same loop with the service logging into PostgreSQL."""
    # The session's PostgreSQL holds other tests' answers too (test_prediction_log.py's, when
    # it runs first): the window starts when this test does.
    started = datetime.now(UTC).isoformat(timespec="seconds")
    env = {**os.environ, "MLE_MODEL_TAG": registered.tag, "MLE_PREDICTION_LOG": postgres.url}
    process, service = serve_from_source(env, tmp_path / "serve")
    answers = PriceClient(service).classify_batch(
        listings_from_file(_month(tmp_path, 1, 0.0), sample=300)
    )
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    code, out, summary = _monitor(
        capsys, "--report", str(tmp_path / "r"), "--log", postgres.url, "--from", started,
        "--model", registered.tag,
    )  # fmt: skip
    assert code == 0, out
    assert summary["window"]["rows"] >= len(answers) == 300
    assert "postgresql" in summary["window"]["source"] and "password" not in out


def test_bad_monitor_options_get_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check a bad --since, a bad --from and a missing actuals file: one line, exit 2."""
    log = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    report = str(tmp_path / "r")
    for args, message in (
        (["--since", "7 days"], "not a duration"),
        (["--from", "yesterday"], "not a date or time"),
        (["--actuals", str(tmp_path / "nope.csv")], "nope.csv"),
    ):
        assert main(["monitor", "--report", report, "--log", log, *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
