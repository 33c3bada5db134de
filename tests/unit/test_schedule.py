"""Scheduled retraining, piece by piece: outcomes, cron lines, the training child, the runner's
records, /metrics and /healthz, skipped ticks and drift-triggered runs."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mle_challenge import schedule
from mle_challenge.errors import ConfigError
from mle_challenge.schedule import Options, Runner, RunRecord, ScheduleMetrics

pytestmark = pytest.mark.unit

T0 = datetime(2024, 1, 6, 12, 0, tzinfo=UTC)  # a Saturday


# --- outcomes ---


@pytest.mark.parametrize(
    ("judged", "gate_passed", "expected"),
    [
        ({"m:new"}, True, "unchanged"),  # registered and judged before: nothing new
        ({"m:new"}, False, "unchanged"),
        ({"m:old"}, True, "promoted"),
        ({"m:old"}, False, "gate-failed"),
        (set(), True, "promoted"),
    ],
)
def test_decide_outcome(judged: set[str], gate_passed: bool, expected: str) -> None:
    """Check that a model judged before the run is unchanged, else the gate decides."""
    assert schedule.decide_outcome(judged, "m:new", gate_passed) == expected


def test_a_model_whose_last_run_broke_off_is_judged_again() -> None:
    """Check that a gated model whose last scheduled run ended error or interrupted (a refused
    promotion, say) is not 'judged': the next run may still promote it."""
    history = [
        {"action": "run", "tag": "m:a", "outcome": "error"},
        {"action": "run", "tag": "m:a", "outcome": "gate-failed"},
        {"action": "run", "tag": "m:b", "outcome": "promoted"},
        {"action": "run", "tag": "m:b", "outcome": "interrupted"},
        {"action": "promote", "to": "m:c"},
    ]
    judged = schedule.judged_models(["m:a", "m:b", "m:c"], history)
    assert judged == {"m:a", "m:c"}


def test_drift_alarms_are_the_input_drift_reasons_only() -> None:
    """Check that drift alarms name their model, and realized-performance alarms are not drift."""
    summary = {
        "drift": {
            "m:1": {"reasons": ["4 of 11 input fields drifted"]},
            "m:2": {"reasons": []},
            "m:3": {"rows": 3, "problem": "no profile"},
        },
        "alarms": ["m:1: 4 of 11 input fields drifted", "m:1: realized accuracy fell"],
    }
    assert schedule.drift_alarms(summary) == ["m:1: 4 of 11 input fields drifted"]
    found = schedule.Monitoring.of(summary)
    assert found.other == ["m:1: realized accuracy fell"]
    assert found.notes() == [
        "drift: m:1: 4 of 11 input fields drifted",
        "monitoring alarm: m:1: realized accuracy fell",
    ]
    assert schedule.Monitoring([], [], "log is off").notes() == ["monitoring failed: log is off"]


# --- cron lines ---


@pytest.mark.parametrize(
    ("line", "first", "second"),
    [
        ("0 3 * * 1", "2024-01-08T03:00", "2024-01-15T03:00"),  # Monday, as cron means it
        ("0 3 * * 0", "2024-01-07T03:00", "2024-01-14T03:00"),  # Sunday
        ("0 3 * * 7", "2024-01-07T03:00", "2024-01-14T03:00"),  # Sunday too
        ("30 4 * * mon-fri", "2024-01-08T04:30", "2024-01-09T04:30"),
        ("0 0 * * */3", "2024-01-07T00:00", "2024-01-10T00:00"),  # Sun, Wed, Sat
        ("0 0 * * 1-5/2", "2024-01-08T00:00", "2024-01-10T00:00"),  # Mon, Wed, Fri
        ("*/15 * * * *", "2024-01-06T12:00", "2024-01-06T12:15"),  # now is a fire time
        ("0 6 1 * *", "2024-02-01T06:00", "2024-03-01T06:00"),
    ],
)
def test_cron_lines_fire_when_cron_would(line: str, first: str, second: str) -> None:
    """Check fire times in UTC, weekdays counted as cron counts them (APScheduler 3 alone
    would fire "0 3 * * 1" on Tuesdays)."""
    trigger = schedule.parse_cron(line)
    one = trigger.get_next_fire_time(None, T0)
    two = trigger.get_next_fire_time(one, one + timedelta(seconds=1))
    assert (one.isoformat()[:16], two.isoformat()[:16]) == (first, second)
    assert one.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("line", "days"),
    [("0 3 * * 1", 7), ("30 4 * * mon-fri", 3), ("0 6 1 * *", 31), ("*/15 * * * *", 1 / 96)],
)
def test_the_period_is_the_longest_gap_between_fires(line: str, days: float) -> None:
    """Check the period an alert measures lateness in: a week for a weekly line, the weekend
    for weekdays, the longest month for a monthly line."""
    assert schedule.trigger_period(schedule.parse_cron(line), T0) == days * 86400
    assert schedule.trigger_period(schedule.every_seconds(90), T0) == 90


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("0 3 * *", "4 fields; expected 5"),
        ("@weekly", "1 fields; expected 5"),
        ("61 * * * *", "61"),
        ("0 3 * * 8", "day of week '8'"),
        ("0 3 * * 5-1", "runs backwards"),
        ("0 3 * * 1/2", "a step needs a range"),
        ("0 3 * * */0", "bad step"),
        ("0 3 1 * 1", "not both"),
        ("0 25 * * *", "25"),
    ],
)
def test_a_bad_cron_line_is_one_clear_error(line: str, problem: str) -> None:
    """Check that a bad line names itself, the problem and an example."""
    with pytest.raises(ConfigError) as caught:
        schedule.parse_cron(line)
    message = str(caught.value)
    assert f"--cron {line!r}" in message and problem in message
    assert '"0 3 * * 1" (03:00 UTC every Monday)' in message and "\n" not in message


def test_the_command_refuses_a_bad_cron_line_with_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Check the command line: exit 2 and one line on stderr, before anything runs."""
    from mle_challenge.cli import main

    code = main(["schedule", "--listings", "nowhere.csv", "--cron", "0 3 * *"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --cron '0 3 * *' is not a cron line") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("6h", timedelta(hours=6)), ("off", None)],
)
def test_durations(text: str, expected: timedelta | None) -> None:
    """Check the durations of --timeout and --monitor-every, and off."""
    assert schedule.duration(text, "--timeout") == expected


@pytest.mark.parametrize("text", ["6", "soon", "0h"])
def test_a_bad_duration_names_the_option(text: str) -> None:
    """Check that a bad duration names its option."""
    with pytest.raises(ConfigError, match="--monitor-every"):
        schedule.duration(text, "--monitor-every")


def test_a_window_cannot_be_off() -> None:
    """Check that --monitor-since takes no `off`."""
    with pytest.raises(ConfigError, match=r"--monitor-since 'off' is not a duration.*6h\.$"):
        schedule.duration("off", "--monitor-since", off=False)


# --- the training child ---


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _in_thread(action: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_ends_a_running_child_and_its_group(tmp_path: Path) -> None:
    """Check that stop() ends the child and the process it started, within the grace."""
    pids = tmp_path / "pids"
    child = _python(
        "import os, subprocess, sys, time; "
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{g.pid}}'); time.sleep(60)"
    )
    training = schedule.TrainingProcess(grace=5)
    thread, result = _in_thread(lambda: training.run(child, tmp_path / "out.log"))
    _wait_for(lambda: pids.is_file() and len(pids.read_text().split()) == 2)
    started = time.monotonic()
    training.stop()
    thread.join(10)
    assert isinstance(result[0], schedule.Interrupted)
    assert time.monotonic() - started < 5
    assert all(_gone(int(pid)) for pid in pids.read_text().split())
    with pytest.raises(schedule.Interrupted):  # and no other starts
        training.run(_python("pass"), tmp_path / "again.log")


def test_a_child_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    """Check that a training past --timeout is stopped and reported as such."""
    training = schedule.TrainingProcess(grace=5)
    started = time.monotonic()
    with pytest.raises(schedule.TrainingTimeout):
        training.run(_python("import time; time.sleep(60)"), tmp_path / "out.log", timeout=0.5)
    assert time.monotonic() - started < 5


def _summary(path: Path, **fields: Any) -> Path:
    path.write_text(json.dumps({"tag": None, "gate": None, **fields}))
    return path


def test_read_training(tmp_path: Path) -> None:
    """Check the child's result: a success, our own error, a failed task with its exception,
    and a crash that wrote nothing."""
    log = tmp_path / "train.log"
    log.write_text(
        "ERROR: [pid 1] Worker failed    TrainCandidate(...)\nTraceback (most recent call last):\n"
        '  File "x.py", line 1\nmle_challenge.errors.ConfigError: invalid parameters for x\n'
    )
    ok = _summary(tmp_path / "ok.json", ok=True, tag="m:1", gate={"passed": True}, summary="")
    assert schedule.read_training(ok, 0, log) == schedule.Training(True, "m:1", {"passed": True})
    ours = _summary(tmp_path / "e.json", ok=False, summary="error: listings file not found: x")
    assert schedule.read_training(ours, 2, log).message == "listings file not found: x"
    luigi = "* 1 complete ones\n* 1 failed:\n    - 1 TrainCandidate(...)\n* 5 were left pending"
    failed = schedule.read_training(_summary(tmp_path / "f.json", ok=False, summary=luigi), 1, log)
    assert not failed.ok
    assert failed.message.startswith(
        "TrainCandidate failed: mle_challenge.errors.ConfigError: invalid parameters for x"
    )
    crashed = schedule.read_training(tmp_path / "none.json", -9, tmp_path / "none.log")
    assert crashed.message.startswith("training exited with status -9")


# --- the runner ---


def _options(tmp_path: Path, **extra: Any) -> Options:
    name = f"sched_{uuid.uuid4().hex[:8]}"  # its own history in the session's store
    values = {"listings": "listings.csv", "params": "params.yaml", "outputs": tmp_path / "out"}
    return Options(**{**values, "model_name": name, "trigger": "cron 0 3 * * 1", **extra})


class FakeChild(Runner):
    """A runner whose training child runs ``code`` instead of the pipeline."""

    def __init__(self, options: Options, code: str) -> None:
        super().__init__(options, ScheduleMetrics(), schedule.TrainingProcess(grace=5))
        self.code = code

    def train_command(self, summary: Path) -> list[str]:
        return _python(self.code.replace("SUMMARY", str(summary)))


def _history(options: Options) -> list[dict[str, Any]]:
    from mle_challenge.lifecycle import production

    return production.history(options.model_name)


def test_the_training_child_registers_under_the_runs_name(tmp_path: Path) -> None:
    """Check that the child trains under the schedule's model name (`schedule --model-name`
    overrides the params'), so the run and its promotion use the same alias."""
    options = _options(tmp_path)
    command = Runner(options, ScheduleMetrics()).train_command(tmp_path / "s.json")
    at = command.index("--model-name")
    assert command[at + 1] == options.model_name


def test_a_failed_training_is_an_error_record_not_an_exception(tmp_path: Path) -> None:
    """Check that a crashing child gives an `error` run, recorded with its message."""
    runner = FakeChild(_options(tmp_path), "import sys; print('KeyError: boom'); sys.exit(3)")
    record = runner.run()
    assert record is not None and record.outcome == "error"
    assert "training exited with status 3: KeyError: boom" in record.reason
    (event,) = _history(runner.options)
    assert event["action"] == "run" and event["user"] == "scheduler"
    assert event["outcome"] == "error" and event["tag"] is None
    assert event["reason"].startswith("cron 0 3 * * 1; training exited with status 3")
    assert event["seconds"] >= 0 and event["started"] <= event["ended"]
    assert not runner.metrics.running


def test_a_stopped_run_is_interrupted(tmp_path: Path) -> None:
    """Check that stop() during the training ends the run `interrupted`, with nothing promoted."""
    runner = FakeChild(_options(tmp_path), "import time; time.sleep(60)")
    thread, result = _in_thread(runner.run)
    _wait_for(lambda: runner.metrics.running)
    time.sleep(0.3)
    runner.stop()
    thread.join(10)
    assert result[0].outcome == "interrupted"
    assert [e["outcome"] for e in _history(runner.options)] == ["interrupted"]
    assert runner.run() is None  # a stopping runner starts nothing


def test_a_run_while_another_holds_the_lock_is_skipped(tmp_path: Path) -> None:
    """Check one run at a time across processes: the lock held elsewhere means `skipped`."""
    runner = FakeChild(_options(tmp_path), "raise SystemExit(0)")
    with schedule.single_run(runner.lock_path) as holder:
        assert holder is None
        record = runner.run()
    assert record is not None and record.outcome == "skipped"
    assert "another run (pid " in record.reason
    assert runner.run().outcome == "error"  # the lock is free again (and the child wrote nothing)


def _drifted_summary() -> dict[str, Any]:
    reason = "6 of 11 input fields drifted"
    return {"alarm": True, "alarms": [f"m:1: {reason}"], "drift": {"m:1": _drift([reason])}}


@pytest.mark.parametrize("fails", [False, True])
def test_a_run_monitors_first_and_names_drift_or_a_failed_monitor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """Check --monitor: drift goes into the run's reason and its gauges into /metrics; a
    monitoring failure is noted and counted, and the run goes on to train."""
    import mle_challenge.pipeline

    seen: list[Path] = []

    def run_monitor(report: Path, **kwargs: Any) -> dict[str, Any]:
        seen.append(Path(report))
        assert kwargs["since"] == "2d" and kwargs["actuals"] is None
        if fails:
            raise RuntimeError("the log is unreachable")
        return _drifted_summary()

    monkeypatch.setattr(mle_challenge.pipeline, "run_monitor", run_monitor)
    options = _options(tmp_path, monitor=True, monitor_since="2d")
    runner = FakeChild(options, "raise SystemExit(1)")
    record = runner.run()
    assert record is not None and record.outcome == "error"  # it trained (and the child failed)
    assert seen[0].parent == options.outputs / "schedule" / "monitor"
    text = runner.metrics.exposition().decode()
    if fails:
        assert "; monitoring failed: the log is unreachable; training exited" in record.reason
        assert _sample(text, "mle_schedule_monitor_failures_total") == 1
    else:
        assert "; drift: m:1: 6 of 11 input fields drifted; training exited" in record.reason
        assert _sample(text, 'mle_drift_share{model="m:1"}') == 0.25


@pytest.mark.parametrize("there", [False, True])
def test_realized_performance_waits_for_its_file_and_drift_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, there: bool
) -> None:
    """Check --actuals: a file not there yet is no monitoring failure (drift is measured, its
    gauges served); once it is there, monitoring reads it."""
    import mle_challenge.pipeline

    actuals = tmp_path / "latest.csv"
    if there:
        actuals.write_text("id,price\n1,$50.00\n")
    given: list[str | None] = []

    def run_monitor(report: Path, **kwargs: Any) -> dict[str, Any]:
        given.append(kwargs["actuals"])
        return _drifted_summary()

    monkeypatch.setattr(mle_challenge.pipeline, "run_monitor", run_monitor)
    options = _options(tmp_path, monitor=True, actuals=str(actuals))
    runner = Runner(options, ScheduleMetrics())
    found = runner.check()
    assert found.problem is None and found.drift
    assert given == [str(actuals) if there else None]
    text = runner.metrics.exposition().decode()
    assert _sample(text, 'mle_drift_share{model="m:1"}') == 0.25
    assert _sample(text, "mle_schedule_monitor_failures_total") == 0


# --- metrics and health ---


def _get(app: Any, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO()}
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def _sample(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])


def test_metrics_and_healthz_before_and_after_runs() -> None:
    """Check /metrics and /healthz: every outcome counted from 0, the last one marked, the
    last success time, the next run, and the last monitoring run's gauges."""
    metrics = ScheduleMetrics()
    metrics.next_run = lambda: T0 + timedelta(days=2)
    app = schedule.make_app(metrics)
    status, headers, body = _get(app, "/metrics")
    text = body.decode()
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain")
    for outcome in schedule.OUTCOMES:
        assert _sample(text, f'mle_schedule_runs_total{{outcome="{outcome}"}}') == 0
    assert _sample(text, "mle_schedule_last_success_timestamp_seconds") == 0
    assert _sample(text, "mle_schedule_running") == 0
    assert (
        _sample(text, "mle_schedule_next_run_timestamp_seconds") == (T0 + timedelta(2)).timestamp()
    )
    assert json.loads(_get(app, "/healthz")[2])["last_outcome"] is None

    ended = T0 + timedelta(seconds=42)
    metrics.finished(RunRecord("promoted", T0, ended, "cron", "m:1"))
    metrics.finished(RunRecord("gate-failed", T0, T0 + timedelta(seconds=5), "cron", "m:2"))
    metrics.monitored({"alarm": False, "drift": {"m:1": _drift()}})
    metrics.set_running(True)
    metrics.set_period(7 * 86400)
    text = _get(app, "/metrics")[2].decode()
    assert _sample(text, 'mle_schedule_runs_total{outcome="promoted"}') == 1
    assert _sample(text, 'mle_schedule_last_outcome{outcome="gate-failed"}') == 1
    assert _sample(text, 'mle_schedule_last_outcome{outcome="promoted"}') == 0
    assert _sample(text, "mle_schedule_last_success_timestamp_seconds") == ended.timestamp()
    assert _sample(text, "mle_schedule_last_run_seconds") == 5
    assert _sample(text, "mle_schedule_running") == 1
    assert _sample(text, "mle_schedule_period_seconds") == 7 * 86400
    assert _sample(text, 'mle_drift_share{model="m:1"}') == 0.25
    health = json.loads(_get(app, "/healthz")[2])
    assert health["status"] == "ok" and health["running"] is True
    assert health["last_outcome"] == "gate-failed" and health["last_run"]["tag"] == "m:2"
    assert health["next_run"] == "2024-01-08T12:00:00+00:00"


def _drift(reasons: list[str] | None = None) -> dict[str, Any]:
    return {
        "rows": 500,
        "drift_share": 0.25,
        "prediction_mix": {"psi": 0.01},
        "fields": {"beds": {"psi": 0.2, "drifted": True}},
        "reasons": reasons or [],
    }


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [("/", "GET", "404 Not Found"), ("/metrics", "POST", "405 Method Not Allowed")],
)
def test_other_requests_are_refused_plainly(path: str, method: str, status: str) -> None:
    """Check a 404 and a 405 with a JSON detail."""
    got, headers, body = _get(schedule.make_app(ScheduleMetrics()), path, method)
    assert got == status and headers["Content-Type"] == "application/json"
    assert "detail" in json.loads(body)


# --- the scheduler: skipped ticks and drift ---


class Blocking(Runner):
    """A runner whose runs wait for ``release`` instead of training."""

    def __init__(self, options: Options) -> None:
        super().__init__(options, ScheduleMetrics())
        self.release = threading.Event()
        self.triggers: list[str] = []
        self.alarms = ["m:1: 5 of 11 input fields drifted"]

    def _attempt(self, started: datetime, trigger: str) -> RunRecord:
        self.triggers.append(trigger)
        self.release.wait(10)
        return RunRecord("unchanged", started, schedule._now(), trigger)

    def check(self, report: Path | None = None) -> schedule.Monitoring:
        alarms, self.alarms = self.alarms, []  # drift once
        return schedule.Monitoring(alarms, [])


@pytest.fixture
def started() -> Iterator[Callable[..., Any]]:
    schedulers: list[Any] = []

    def start(runner: Runner, trigger: Any, every: timedelta | None = None) -> Any:
        scheduler = schedule.build_scheduler(runner, trigger, every)
        scheduler.start()
        schedulers.append(scheduler)
        return scheduler

    yield start
    for scheduler in schedulers:
        scheduler.shutdown(wait=False)


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ticks_during_a_run_are_recorded_as_skipped(
    tmp_path: Path, started: Callable[..., Any]
) -> None:
    """Check max_instances=1: ticks while a run blocks are `skipped` runs in the history and
    the counters, and the blocked run still finishes."""
    runner = Blocking(_options(tmp_path))
    scheduler = started(runner, schedule.every_seconds(0.2))
    _wait_for(lambda: runner.metrics.running)
    _wait_for(lambda: any(e["outcome"] == "skipped" for e in _history(runner.options)))
    runner.release.set()
    _wait_for(lambda: any(e["outcome"] == "unchanged" for e in _history(runner.options)))
    scheduler.pause()
    events = _history(runner.options)
    skipped = [e for e in events if e["outcome"] == "skipped"]
    assert skipped and skipped[0]["reason"].startswith("a tick came while a run was still going")
    assert skipped[0]["user"] == "scheduler" and skipped[0]["seconds"] == 0
    text = runner.metrics.exposition().decode()
    assert _sample(text, 'mle_schedule_runs_total{outcome="skipped"}') == len(skipped)


def test_drift_found_between_runs_starts_a_run_at_once(
    tmp_path: Path, started: Callable[..., Any]
) -> None:
    """Check the monitoring check: input drift asks for a run now, whose reason is the drift,
    and the cron schedule goes on after it."""
    runner = Blocking(_options(tmp_path))
    runner.release.set()
    yearly = schedule.parse_cron("0 3 1 1 *")
    scheduler = started(runner, yearly, timedelta(seconds=0.2))
    _wait_for(lambda: bool(runner.triggers))
    assert runner.triggers == ["drift: m:1: 5 of 11 input fields drifted"]
    _wait_for(lambda: bool(_history(runner.options)))
    assert _history(runner.options)[0]["reason"].startswith("drift: m:1")
    next_run = schedule.next_run_time(scheduler)
    assert next_run is not None and (next_run.month, next_run.day, next_run.hour) == (1, 1, 3)


def test_run_now_starts_a_run_with_its_reason_and_the_schedule_goes_on(
    tmp_path: Path, started: Callable[..., Any]
) -> None:
    """Check `run_now` (SIGUSR1 in the long-running process): one run at once, recorded with
    the reason given, and the cron schedule's next tick is still the one it was."""
    runner = Blocking(_options(tmp_path))
    runner.release.set()
    yearly = schedule.parse_cron("0 3 1 1 *")
    scheduler = started(runner, yearly)
    schedule.run_now(scheduler, runner, "run now (SIGUSR1)")
    _wait_for(lambda: bool(_history(runner.options)))
    assert runner.triggers == ["run now (SIGUSR1)"]
    assert _history(runner.options)[0]["reason"].startswith("run now (SIGUSR1)")
    next_run = schedule.next_run_time(scheduler)
    assert next_run is not None and (next_run.month, next_run.day, next_run.hour) == (1, 1, 3)


def test_shared_outputs_go_to_training_as_given_and_the_lock_stays_local() -> None:
    """Check `schedule --outputs s3://...`: the training child gets the URL itself (a Path
    would make it s3:/...), and the lock and run logs live in this machine's mirror."""
    from mle_challenge.lifecycle.store import state_dir

    options = Options("l.csv", "p.yaml", "s3://bucket/shared", "m", "cron 0 3 * * 1")
    command = Runner(options, ScheduleMetrics()).train_command(Path("s.json"))
    assert command[command.index("--outputs") + 1] == "s3://bucket/shared"
    assert options.folder == state_dir() / "outputs" / "bucket" / "shared" / "schedule"


def test_a_restarted_scheduler_recalls_its_last_success_from_the_history() -> None:
    """Check `recall`: the last promoted or unchanged run of the history sets the gauge the
    no-successful-training alert reads; skipped and failed runs and other events do not."""
    metrics = ScheduleMetrics()
    metrics.recall(
        [
            {"action": "run", "outcome": "promoted", "ended": "2026-11-01T03:00:00+00:00"},
            {"action": "run", "outcome": "unchanged", "ended": "2026-11-08T03:00:00+00:00"},
            {"action": "run", "outcome": "error", "ended": "2026-11-15T03:00:00+00:00"},
            {"action": "run", "outcome": "skipped", "ended": "2026-11-15T03:00:01+00:00"},
            {"action": "promote", "time": "2026-11-16T00:00:00+00:00"},
        ]
    )
    text = metrics.exposition().decode()
    expected = datetime(2026, 11, 8, 3, tzinfo=UTC).timestamp()
    assert _sample(text, "mle_schedule_last_success_timestamp_seconds") == expected
    assert metrics.last is None  # the last run's outcome is this process's own
    ScheduleMetrics().recall([])  # an empty history leaves 0 (never)


def test_a_restarted_scheduler_serves_its_last_monitoring_gauges(tmp_path: Path) -> None:
    """Check `recall_monitoring`: the newest readable summary (a run's or the last check's)
    is served with its time, so drift gauges do not vanish for an hour after a restart."""
    folder = tmp_path / "monitor"
    older, newer, broken = (folder / n for n in ("20260101T030000.000Z", "last-check", "x"))
    for path, share, when in ((older, 0.5, 100), (newer, 0.25, 200), (broken, None, 300)):
        path.mkdir(parents=True)
        summary = {"alarm": False, "created_at": "2026-11-20T10:00:00+00:00"}
        summary["drift"] = {"m:1": {**_drift(), "drift_share": share}}
        (path / "summary.json").write_text("{" if share is None else json.dumps(summary))
        os.utime(path / "summary.json", (when, when))
    metrics = ScheduleMetrics()
    schedule.recall_monitoring(metrics, folder)
    text = metrics.exposition().decode()
    assert _sample(text, 'mle_drift_share{model="m:1"}') == 0.25
    made = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
    assert _sample(text, "mle_monitor_timestamp_seconds") == made
    empty = ScheduleMetrics()
    schedule.recall_monitoring(empty, tmp_path / "never-monitored")
    assert "mle_drift_share" not in empty.exposition().decode()


# --- what a run says, and where ---


def test_once_leaves_the_outcome_line_to_its_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that `schedule --once` logs nothing of its run's outcome (the command prints it
    on stdout): a terminal showed the line twice, once from the log on stderr."""
    runner = FakeChild(_options(tmp_path), "import sys; sys.exit(3)")
    with caplog.at_level("INFO", logger="mle_challenge.schedule"):
        record = schedule.run_once(runner.options, runner)
    assert record.outcome == "error"
    assert not [r for r in caplog.records if record.line() in r.getMessage()]


def test_the_long_running_scheduler_logs_each_run_once(
    tmp_path: Path, started: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Check that a scheduled run's line is logged, exactly once."""
    runner = Blocking(_options(tmp_path))
    runner.release.set()
    with caplog.at_level("INFO", logger="mle_challenge.schedule"):
        started(runner, schedule.every_seconds(0.2))
        _wait_for(lambda: runner.metrics.last is not None)
        _wait_for(lambda: any("run: unchanged" in r.getMessage() for r in caplog.records))
    last = runner.metrics.last
    assert last is not None
    assert sum(r.getMessage() == f"run: {last.line()}" for r in caplog.records) <= 1


@pytest.mark.parametrize(
    ("tag", "production", "said"),
    [
        ("m:a", "m:a", "its model is production already"),
        ("m:b", "m:a", "is not production (m:a is): `mle-challenge promote m:b` to serve it"),
        ("m:b", None, "is not production (none is)"),
    ],
)
def test_an_unchanged_run_names_its_model_for_what_it_is(
    tag: str, production: str | None, said: str
) -> None:
    """Check that an unchanged run's reason never passes a model off as production."""
    assert said in schedule.unchanged_detail("l.csv", tag, production)


def test_models_history_says_production_stayed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a run that promoted nothing reads `A stays [run unchanged, its model B]`,
    not `A → A [unchanged B]`, which named B as if it were production."""
    from mle_challenge.cli import main
    from mle_challenge.lifecycle import production

    events = [
        {"time": "t1", "action": "run", "user": "scheduler", "from": "m:a", "to": "m:a",
         "outcome": "unchanged", "tag": "m:b", "reason": "cron"},
        {"time": "t2", "action": "run", "user": "scheduler", "from": "m:a", "to": "m:c",
         "outcome": "promoted", "tag": "m:c", "reason": "cron"},
    ]  # fmt: skip
    monkeypatch.setattr(production, "history", lambda name: events)
    assert main(["models", "history"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "m:a stays  [run unchanged, its model m:b] cron" in shown[0]
    assert "m:a → m:c  [run promoted, its model m:c] cron" in shown[1]
