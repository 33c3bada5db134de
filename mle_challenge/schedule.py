"""Scheduled retraining: ``mle-challenge schedule``, a long-running process that retrains on a
listings source at every tick of a cron line (UTC) and promotes what passes the gate.

One *run*: optionally monitor the prediction log (input drift is named in the run's reason),
then the training pipeline in a child process (a crash there cannot take the scheduler down, and
SIGTERM stops it cleanly), then one :data:`Outcome`. A model already registered and judged
before the run is ``unchanged`` and never promoted again, so a rollback by hand stands until
new data arrives. Every run, skipped and interrupted ones included, is one ``run`` event in the
production history. One run at a time: APScheduler's ``max_instances=1`` within the process, a
lock file in ``<outputs>/schedule/`` across processes (a ``--once`` from cron beside a running
scheduler). ``/metrics`` and ``/healthz`` are served on loopback by a small WSGI server.

Operations guide: docs/operations.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Literal, Protocol, get_args
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from mle_challenge.errors import ConfigError, MleError

log = logging.getLogger(__name__)

Outcome = Literal["promoted", "unchanged", "gate-failed", "error", "skipped", "interrupted"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
SUCCESS: frozenset[Outcome] = frozenset({"promoted", "unchanged"})
# --once's exit status: a run that was skipped because another one is going is no failure.
EXIT_STATUS: Mapping[Outcome, int] = {o: 0 if o in SUCCESS | {"skipped"} else 1 for o in OUTCOMES}
RUN_JOB, CHECK_JOB = "run", "monitor-check"
CRON_EXAMPLE = '--cron "0 3 * * 1" (03:00 UTC every Monday)'


# --- what a run gives ---


@dataclass(frozen=True)
class RunRecord:
    """One run as the history keeps it."""

    outcome: Outcome
    started: datetime
    ended: datetime
    reason: str  # why it ran, then what came of it
    tag: str | None = None  # the model the pipeline registered
    production: tuple[str | None, str | None] | None = None  # before and after, when read

    @property
    def seconds(self) -> float:
        return round((self.ended - self.started).total_seconds(), 3)

    def event(self) -> dict[str, Any]:
        """The history event (``production.record_event``)."""
        event: dict[str, Any] = {
            "action": "run",
            "user": "scheduler",
            "outcome": self.outcome,
            "started": self.started.isoformat(timespec="seconds"),
            "ended": self.ended.isoformat(timespec="seconds"),
            "seconds": self.seconds,
            "reason": self.reason,
            "tag": self.tag,
        }
        if self.production is not None:
            event["from"], event["to"] = self.production
        return event

    def line(self) -> str:
        return f"{self.outcome} {self.tag or '-'} in {self.seconds:.1f} s: {self.reason}"


def decide_outcome(judged_before: Collection[str], tag: str, gate_passed: bool) -> Outcome:
    """What a finished training run amounts to: nothing new (``unchanged``, never promoted
    again, so a rollback stands), or a new model that passed its gate or failed it.

    ``judged_before``: see :func:`judged_models`.
    """
    if tag in judged_before:
        return "unchanged"
    return "promoted" if gate_passed else "gate-failed"


def judged_models(gated: Iterable[str], history: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The models already judged: registered and gated (``gated``), except those whose last
    scheduled run ended ``error`` or ``interrupted`` (a promotion refused while another was in
    progress, say). A model registered by a run cut off before its gate has no gate result, so
    the next run judges it too, instead of calling it unchanged forever."""
    last: dict[str, str] = {}
    for event in history:
        if event.get("action") == "run" and event.get("tag"):
            last[str(event["tag"])] = str(event.get("outcome"))
    return frozenset(t for t in gated if last.get(t) not in ("error", "interrupted"))


def drift_alarms(summary: Mapping[str, Any]) -> list[str]:
    """A monitoring summary's input-drift alarms (drifted fields, a moved class mix), each
    naming its model; realized-performance alarms are not input drift."""
    return [
        f"{model}: {reason}"
        for model, drift in summary.get("drift", {}).items()
        for reason in drift.get("reasons", [])
    ]


@dataclass(frozen=True)
class Monitoring:
    """What one monitoring run said: input drift, other alarms, or why it failed."""

    drift: list[str]  # input-drift alarms: they trigger a run
    other: list[str]  # other alarms (realized performance with --actuals): noted only
    problem: str | None = None  # monitoring itself failed (it is advice: runs go on)

    @classmethod
    def of(cls, summary: Mapping[str, Any]) -> Monitoring:
        drift = drift_alarms(summary)
        return cls(drift, [a for a in summary.get("alarms", []) if a not in drift])

    def notes(self) -> list[str]:
        """What this adds to a run's reason."""
        if self.problem is not None:
            return [f"monitoring failed: {self.problem}"]
        drift = [f"drift: {'; '.join(self.drift)}"] if self.drift else []
        return drift + ([f"monitoring alarm: {'; '.join(self.other)}"] if self.other else [])


def failed_checks(gate: Mapping[str, Any]) -> list[str]:
    return [str(c["name"]) for c in gate.get("checks", []) if not c.get("passed")]


# --- when ---


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def parse_cron(expr: str) -> CronTrigger:
    """A five-field crontab line, in UTC, as an APScheduler trigger.

    APScheduler 3 numbers weekdays from Monday = 0 where cron has Sunday = 0 (``from_crontab``'s
    own docstring warns of it): "0 3 * * 1" would fire on Tuesdays. Weekdays are therefore
    passed by name. Cron fires when *either* a restricted day of month or a restricted weekday
    matches, APScheduler only when both do: a line restricting both is refused, not guessed.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise _cron_error(expr, f"{len(fields)} fields; expected 5")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise _cron_error(expr, "restrict the day of month or the weekday, not both")
    try:
        line = " ".join([minute, hour, day, month, cron_weekdays(weekday)])
        return CronTrigger.from_crontab(line, timezone=UTC)
    except ValueError as exc:
        raise _cron_error(expr, str(exc)) from exc


def _cron_error(expr: str, problem: str) -> ConfigError:
    return ConfigError(
        f"--cron {expr!r} is not a cron line ({problem}): give minute hour day-of-month month "
        f"day-of-week in UTC, e.g. {CRON_EXAMPLE}."
    )


def cron_weekdays(field: str) -> str:
    """Cron's day-of-week field (0 or 7 = Sunday, names, ranges, steps) as weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        days |= _weekday_item(item)
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _weekday_item(item: str) -> set[int]:
    body, slash, step_text = item.partition("/")
    if slash and (not step_text.isdigit() or int(step_text) == 0):
        raise ValueError(f"bad step in day of week {item!r}")
    if body == "*":
        first, last = 0, 6
    elif "-" in body:
        first, last = (_weekday(part) for part in body.split("-", 1))
    elif slash:
        raise ValueError(f"a step needs a range or * in day of week {item!r}")
    else:
        first = last = _weekday(body)
    if first > last:
        raise ValueError(f"day-of-week range {item!r} runs backwards")
    return {d % 7 for d in range(first, last + 1, int(step_text or 1))}


def _weekday(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _CRON_DAYS:
        return _CRON_DAYS.index(text.lower())
    raise ValueError(f"day of week {text!r}: use 0-7 (0 and 7 are Sunday) or sun..sat")


def trigger_period(trigger: BaseTrigger, now: datetime, fires: int = 13) -> float | None:
    """The longest gap, in seconds, between the trigger's next ``fires`` fire times (a monthly
    line's gaps are 28 to 31 days: an alert on lateness must allow the longest); None when it
    fires fewer than twice."""
    times: list[datetime] = []
    previous, after = None, now
    while len(times) < fires:
        fire = trigger.get_next_fire_time(previous, after)
        if fire is None:
            break
        times.append(fire)
        previous, after = fire, fire + timedelta(seconds=1)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return max(gaps) if gaps else None


def every_seconds(seconds: float) -> IntervalTrigger:
    """A run every ``seconds``, the first one ``seconds`` from now (the hidden ``--every``, for
    tests: a cron line fires at most once a minute)."""
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def duration(text: str, option: str, *, off: bool = True) -> timedelta | None:
    """``30m``, ``1h``, ``7d``... or, when ``off`` is allowed, ``off`` (None)."""
    from mle_challenge.monitoring.monitor import parse_since

    if off and text.strip().lower() == "off":
        return None
    try:
        value = parse_since(text)
    except MleError as exc:
        raise ConfigError(
            f"{option} {text!r} is not a duration: use a number and a unit (s, m, h, d, w), "
            f"such as 30m or 6h{', or off' if off else ''}."
        ) from exc
    if value <= timedelta(0):
        raise ConfigError(f"{option} {text!r} must be longer than 0.")
    return value


# --- options ---


@dataclass(frozen=True)
class Options:
    """What every run does (``mle-challenge schedule``'s options)."""

    listings: str
    params: str
    outputs: str | Path  # as given: a folder, or s3://bucket/prefix shared by several machines
    model_name: str  # --model-name, else params.yaml's register.model_name: whose alias and
    # history the runs use
    trigger: str  # why a scheduled run runs, for its record: "cron 0 3 * * 1", "once"
    workers: int = 1
    scheduler_url: str | None = None
    monitor: bool = False
    monitor_since: str = "7d"
    actuals: str | None = None
    timeout: float | None = None  # seconds a training may take before it is stopped

    @property
    def folder(self) -> Path:
        """The lock, the run logs and the reports: under the outputs' folder, or under this
        machine's mirror of shared outputs (a lock must be a local file to be flock'ed)."""
        from mle_challenge.lifecycle.outputs import Outputs

        return Outputs(str(self.outputs)).local / "schedule"


# --- the training child process ---


class Interrupted(Exception):
    """The process was asked to stop (SIGTERM, SIGINT) while a run was going."""


class TrainingTimeout(Exception):
    """The training ran longer than ``--timeout``."""


class TrainingProcess:
    """A child process (the training pipeline) that another thread can stop.

    It runs in its own process group, so stopping it reaches Luigi's worker processes too:
    SIGTERM, then SIGKILL after ``grace`` seconds. Luigi writes every output through a
    temporary path, so a stopped run leaves nothing that looks complete.
    """

    def __init__(self, grace: float = 30.0) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(self, command: list[str], output: Path, timeout: float | None = None) -> int:
        """Run ``command`` to its end, its output into ``output``; return its exit status.
        Raises :class:`Interrupted` once :meth:`stop` was called, :class:`TrainingTimeout`."""
        with self._lock:
            if self._stopping:
                raise Interrupted
            with output.open("wb") as out:
                process = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            self._process = process
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self._terminate(process)
            raise TrainingTimeout from exc
        finally:
            with self._lock:
                self._process = None
        if self._stopping and code != 0:  # stopped; a training that had finished stands
            raise Interrupted
        return code

    def stop(self) -> None:
        """Stop the running child, if any, and refuse to start another."""
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None:
            self._terminate(process)

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(self.grace)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass(frozen=True)
class Training:
    """What the training child gave back (``train --summary-json``)."""

    ok: bool
    tag: str | None = None
    gate: dict[str, Any] | None = None
    message: str = ""  # when not ok: what went wrong, in one line


def read_training(summary: Path, code: int, output: Path) -> Training:
    """The child's result: its summary JSON, or what its exit status and output say."""
    raw = json.loads(summary.read_text()) if summary.is_file() else None
    if raw is not None and raw.get("ok") and code == 0:
        return Training(ok=True, tag=raw["tag"], gate=raw["gate"])
    text = output.read_text(errors="replace") if output.is_file() else ""
    said = str(raw["summary"]) if raw is not None else ""
    if said.startswith("error: "):  # our own clear error, e.g. an unreadable listings file
        return Training(ok=False, message=said.removeprefix("error: "))
    tasks = failed_tasks(said)
    where = f"{', '.join(tasks)} failed" if tasks else f"training exited with status {code}"
    cause = last_exception(text)
    return Training(ok=False, message=f"{where}{': ' + cause if cause else ''} (log: {output})")


def failed_tasks(luigi_summary: str) -> list[str]:
    """The task names in the 'failed' part of Luigi's execution summary."""
    names: list[str] = []
    inside = False
    for line in luigi_summary.splitlines():
        if line.startswith("* "):
            inside = "failed" in line and "dependencies" not in line
        elif inside and (found := re.match(r"\s+- \d+ (\w+)\(", line)):
            names.append(found.group(1))
    return names


def last_exception(output: str) -> str | None:
    """The last 'SomeError: message' line of a child's output (Luigi logs the traceback)."""
    lines = re.findall(r"^(?:[a-z_]\w*\.)*[A-Z][a-z]\w*: .+$", output, flags=re.MULTILINE)
    return lines[-1][:300] if lines else None


# --- metrics and health ---


class ScheduleMetrics:
    """The scheduler's gauges and counters, the last monitoring run's gauges, the last run."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._runs = Counter("mle_schedule_runs", "Runs by outcome.", ["outcome"], registry=r)
        self._last = Gauge(
            "mle_schedule_last_outcome", "1 for the last run's outcome.", ["outcome"], registry=r
        )
        self._success = Gauge(
            "mle_schedule_last_success_timestamp_seconds",
            "When the last run that ended promoted or unchanged ended (Unix time; 0: never).",
            registry=r,
        )
        self._seconds = Gauge("mle_schedule_last_run_seconds", "The last run's length.", registry=r)
        self._running = Gauge("mle_schedule_running", "1 while a run is going.", registry=r)
        self._next = Gauge(
            "mle_schedule_next_run_timestamp_seconds", "When the next run is due.", registry=r
        )
        self._next.set_function(self._next_timestamp)
        self._period = Gauge(
            "mle_schedule_period_seconds",
            "The longest time between two scheduled runs: alert rules measure lateness in it.",
            registry=r,
        )
        self._monitor_failures = Counter(
            "mle_schedule_monitor_failures", "Monitoring runs that raised.", registry=r
        )
        for outcome in OUTCOMES:
            self._runs.labels(outcome)
            self._last.labels(outcome).set(0)
        self._lock = threading.Lock()
        self._monitor: CollectorRegistry | None = None
        self.last: RunRecord | None = None
        self.running = False
        self.next_run: Callable[[], datetime | None] = lambda: None

    def _next_timestamp(self) -> float:
        when = self.next_run()
        return when.timestamp() if when else float("nan")

    def set_running(self, running: bool) -> None:
        self.running = running
        self._running.set(1 if running else 0)

    def finished(self, record: RunRecord) -> None:
        with self._lock:
            self.last = record
            self._runs.labels(record.outcome).inc()
            for outcome in OUTCOMES:
                self._last.labels(outcome).set(1 if outcome == record.outcome else 0)
            if record.outcome != "skipped":  # a skip says nothing of how long runs take
                self._seconds.set(record.seconds)
            if record.outcome in SUCCESS:
                self._success.set(record.ended.timestamp())

    def recall(self, history: Iterable[Mapping[str, Any]]) -> None:
        """Start from the last successful run in ``history``, which outlives this process: a
        restarted scheduler must not look like one that never trained (an alert on this gauge
        would fire after every restart)."""
        ended = [
            datetime.fromisoformat(str(event["ended"]))
            for event in history
            if event.get("action") == "run"
            and event.get("outcome") in SUCCESS
            and event.get("ended")
        ]
        if ended:
            with self._lock:
                self._success.set(max(ended).timestamp())

    def set_period(self, seconds: float) -> None:
        self._period.set(seconds)

    def monitored(self, summary: Mapping[str, Any]) -> None:
        """Serve this monitoring summary's gauges (``mle_drift_share``...) from now on."""
        from mle_challenge.monitoring.report import fill_gauges

        registry = CollectorRegistry()
        fill_gauges(summary, registry)
        with self._lock:
            self._monitor = registry

    def monitor_failed(self) -> None:
        self._monitor_failures.inc()

    def exposition(self) -> bytes:
        with self._lock:
            monitor = self._monitor
            text = generate_latest(self.registry)
        return text + (generate_latest(monitor) if monitor is not None else b"")

    def health(self) -> dict[str, Any]:
        last = self.last
        when = self.next_run()
        return {
            "status": "ok",
            "running": self.running,
            "last_outcome": last.outcome if last else None,
            "last_run": last.event() if last else None,
            "next_run": when.isoformat(timespec="seconds") if when else None,
        }


def make_app(metrics: ScheduleMetrics) -> WSGIApplication:
    """``GET /metrics`` (Prometheus text) and ``GET /healthz`` (JSON); 404 elsewhere."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        status, kind = "200 OK", "application/json"
        if method not in ("GET", "HEAD"):
            status, body = "405 Method Not Allowed", _json({"detail": "use GET"})
        elif path == "/metrics":
            body, kind = metrics.exposition(), CONTENT_TYPE_LATEST
        elif path == "/healthz":
            body = _json(metrics.health())
        else:
            status, body = "404 Not Found", _json({"detail": "not found: GET /metrics, /healthz"})
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    return app


def _json(payload: Any) -> bytes:
    return json.dumps(payload, default=str).encode()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up the others, nor the exit


def start_http(app: WSGIApplication, host: str, port: int) -> WSGIServer:
    """Serve ``app`` on ``host:port`` from a daemon thread; ``shutdown()`` stops it."""
    try:
        server = make_server(host, port, app, _ThreadingServer, _Quiet)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc}): choose another --port") from exc
    threading.Thread(target=server.serve_forever, name="schedule-http", daemon=True).start()
    return server


# --- one run ---


def _now() -> datetime:
    return datetime.now(UTC)


def _run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%S}.{started.microsecond // 1000:03d}Z"


@contextlib.contextmanager
def single_run(path: Path) -> Iterator[str | None]:
    """Hold the run lock at ``path``: yields None when held here, else who holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            yield f"pid {handle.read().strip() or '?'}"
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Runner:
    """Runs, one at a time: monitor (optional), train in a child process, decide, promote,
    record. A failed run is an ``error`` record and never an exception: the scheduler goes on."""

    def __init__(
        self, options: Options, metrics: ScheduleMetrics, training: TrainingProcess | None = None
    ) -> None:
        self.options = options
        self.metrics = metrics
        self.training = training or TrainingProcess()
        self._pending: str | None = None  # why the next run was asked for (drift)

    @property
    def lock_path(self) -> Path:
        return self.options.folder / "run.lock"

    def request(self, reason: str) -> bool:
        """Note why an extra run was asked for; False when the process is stopping."""
        if self.training.stopping:
            return False
        self._pending = reason
        return True

    def stop(self) -> None:
        """Stop a running training (its run ends ``interrupted``); start no other."""
        self.training.stop()

    def run(self) -> RunRecord | None:
        """One run; its record (None when the process was already stopping)."""
        trigger, self._pending = self._pending or self.options.trigger, None
        if self.training.stopping:
            return None
        started = _now()
        with single_run(self.lock_path) as holder:
            if holder is not None:
                reason = f"{trigger}; another run ({holder}) holds {self.lock_path}"
                return self.record(RunRecord("skipped", started, _now(), reason))
            self.metrics.set_running(True)
            try:
                record = self._attempt(started, trigger)
            finally:
                self.metrics.set_running(False)
        return self.record(record)

    def skip(self, reason: str) -> RunRecord:
        """Record a tick that came while a run was going (APScheduler's max_instances)."""
        self._pending = None  # a drift request that could not start is not the next run's
        started = _now()
        return self.record(RunRecord("skipped", started, started, reason))

    def record(self, record: RunRecord) -> RunRecord:
        from mle_challenge.lifecycle import production

        self.metrics.finished(record)
        log.info("run: %s", record.line())
        try:
            production.record_event(self.options.model_name, record.event())
        except Exception:  # the history's disk is full, say: the scheduler still goes on
            log.exception("could not record the run in the history")
        return record

    def _attempt(self, started: datetime, trigger: str) -> RunRecord:
        reasons, tag, before = [trigger], None, self._production()
        try:
            if self.options.monitor and not trigger.startswith("drift:"):
                reasons += self.check(self.options.folder / "monitor" / _run_id(started)).notes()
            judged = self._judged_models()
            training = self._train(_run_id(started))
            if not training.ok:
                return self._end("error", started, [*reasons, training.message], None, before)
            tag, gate = training.tag, training.gate or {}
            assert tag is not None
            outcome = decide_outcome(judged, tag, bool(gate.get("passed")))
            if outcome == "promoted":
                self._promote(tag)
            return self._end(outcome, started, [*reasons, self._detail(outcome, gate)], tag, before)
        except Interrupted:
            note = "stopped by a signal during the run: nothing promoted"
            return self._end("interrupted", started, [*reasons, note], tag, before)
        except TrainingTimeout:
            note = (
                f"training ran longer than --timeout ({self.options.timeout:g} s) and was stopped"
            )
            return self._end("error", started, [*reasons, note], tag, before)
        except Exception as exc:  # whatever else went wrong, the scheduler goes on
            log.exception("the run failed")
            note = str(exc) if isinstance(exc, MleError) else f"{type(exc).__name__}: {exc}"
            return self._end("error", started, [*reasons, note], tag, before)

    def _end(
        self,
        outcome: Outcome,
        started: datetime,
        reasons: list[str],
        tag: str | None,
        before: str | None,
    ) -> RunRecord:
        after = self._production()
        return RunRecord(outcome, started, _now(), "; ".join(reasons), tag, (before, after))

    def _detail(self, outcome: Outcome, gate: Mapping[str, Any]) -> str:
        if outcome == "unchanged":
            return f"{self.options.listings}: its model was already registered and judged"
        if outcome == "gate-failed":
            return f"failed its gate ({', '.join(failed_checks(gate)) or 'see its card'})"
        return f"trained on {self.options.listings}"

    def check(self, report: Path | None = None) -> Monitoring:
        """One monitoring run of the prediction log, its gauges served from now on. Between
        runs (``--monitor-every``) its report goes to ``monitor/last-check/``, replaced each
        time. A failure is logged, counted and returned: monitoring never stops a run."""
        from mle_challenge.data.sources import source_exists
        from mle_challenge.pipeline import run_monitor

        folder = report or self.options.folder / "monitor" / "last-check"
        actuals = self.options.actuals
        try:
            if actuals is not None and not source_exists(actuals):
                # The next scrape is not out yet: drift is measured meanwhile, and realized
                # performance once it is.
                log.info("monitoring without realized performance: %s is not there yet", actuals)
                actuals = None
            summary = run_monitor(
                folder,
                params_path=self.options.params,
                since=self.options.monitor_since,
                actuals=actuals,
            )
        except Exception as exc:
            log.exception("monitoring failed")
            self.metrics.monitor_failed()
            return Monitoring([], [], problem=str(exc) or type(exc).__name__)
        self.metrics.monitored(summary)
        return Monitoring.of(summary)

    def _train(self, run_id: str) -> Training:
        folder = self.options.folder / "runs" / run_id
        folder.mkdir(parents=True, exist_ok=True)
        summary, output = folder / "train.json", folder / "train.log"
        code = self.training.run(self.train_command(summary), output, self.options.timeout)
        return read_training(summary, code, output)

    def train_command(self, summary: Path) -> list[str]:
        """``mle-challenge train`` in a child process, its result into ``summary``."""
        o = self.options
        command = [sys.executable, "-m", "mle_challenge.cli", "train", "--listings", o.listings]
        command += ["--params", o.params, "--outputs", str(o.outputs), "--workers", str(o.workers)]
        command += ["--model-name", o.model_name, "--summary-json", str(summary)]
        return command + (["--scheduler-url", o.scheduler_url] if o.scheduler_url else [])

    def _judged_models(self) -> frozenset[str]:
        from mle_challenge.lifecycle import production
        from mle_challenge.lifecycle.store import read_card, scan

        name = self.options.model_name
        gated = [s.tag for s in scan(name, check=False) if read_card(s.tag).get("gate")]
        return judged_models(gated, production.history(name))

    def _production(self) -> str | None:
        """The production model's tag, for the record (None when unset or unreadable)."""
        from mle_challenge.lifecycle import production

        try:
            return production.production_tag_unchecked(self.options.model_name)
        except Exception:  # an unreadable alias must not stop the run, and the run will say so
            log.exception("could not read the production alias")
            return None

    def _promote(self, tag: str) -> None:
        from mle_challenge.lifecycle import production

        reason = f"scheduled run: trained on {self.options.listings}"
        production.promote(tag, reason=reason, user="scheduler")


# --- the process ---


class _Runs(Protocol):
    def run(self) -> RunRecord | None: ...
    def check(self, report: Path | None = None) -> Monitoring: ...
    def request(self, reason: str) -> bool: ...
    def skip(self, reason: str) -> RunRecord: ...


def build_scheduler(
    runner: _Runs, trigger: BaseTrigger, monitor_every: timedelta | None = None
) -> BackgroundScheduler:
    """The run job on ``trigger`` (one at a time; a late tick still runs, once), and the
    monitoring check every ``monitor_every``, which asks for a run at once on input drift."""
    scheduler = BackgroundScheduler(timezone=UTC)
    once = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(runner.run, trigger, id=RUN_JOB, name="run", **once)

    def check() -> None:
        found = runner.check()
        if found.drift:
            run_now(scheduler, runner, f"drift: {'; '.join(found.drift)}")

    if monitor_every is not None:
        every = IntervalTrigger(seconds=monitor_every.total_seconds(), timezone=UTC)
        scheduler.add_job(check, every, id=CHECK_JOB, name="monitor check", **once)

    def skipped(event: JobSubmissionEvent) -> None:
        if event.job_id == RUN_JOB:
            runner.skip(f"a tick came while a run was still going (due {_due(event)})")

    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES)
    return scheduler


def run_now(scheduler: BackgroundScheduler, runner: _Runs, reason: str) -> None:
    """Start a run at once, recorded with ``reason``; the cron schedule carries on after it.
    A run already going makes this one ``skipped`` (one at a time)."""
    if runner.request(reason):
        with contextlib.suppress(Exception):  # the scheduler is shutting down
            scheduler.modify_job(RUN_JOB, next_run_time=_now())


def _due(event: JobSubmissionEvent) -> str:
    times = event.scheduled_run_times
    return times[-1].isoformat(timespec="seconds") if times else "now"


def next_run_time(scheduler: BackgroundScheduler) -> datetime | None:
    job = scheduler.get_job(RUN_JOB)
    return job.next_run_time if job is not None else None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (handlers restored on exit)."""
    stop = threading.Event()
    handlers = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def run_once(options: Options) -> RunRecord:
    """One run now (``--once``); SIGTERM or SIGINT stops its training (``interrupted``)."""
    runner = Runner(options, ScheduleMetrics())
    done: list[RunRecord | BaseException | None] = []

    def work() -> None:
        try:
            done.append(runner.run())
        except BaseException as exc:  # raised again below, in the main thread
            done.append(exc)

    worker = threading.Thread(target=work, name="schedule-run")
    with stop_on_signals() as stop:
        worker.start()
        while worker.is_alive():
            if stop.wait(0.2):
                runner.stop()
                break
        worker.join()
    if isinstance(done[0], BaseException):
        raise done[0]
    if done[0] is None:  # stopped before the run began: nothing to record
        now = _now()
        return RunRecord("interrupted", now, now, "stopped by a signal before the run began")
    return done[0]


def recall_monitoring(metrics: ScheduleMetrics, folder: Path) -> None:
    """Serve the newest monitoring summary under ``folder`` (a run's, or the last check's) until
    the next check: a restarted scheduler must not drop its drift and realized-accuracy gauges
    for an hour. ``mle_monitor_timestamp_seconds`` says how old they are."""
    summaries = sorted(folder.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(summaries):
        try:
            metrics.monitored(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):  # half-written, or an old format
            log.warning("could not read the monitoring summary %s: skipped", path)
            continue
        log.info("monitoring gauges from %s until the next check", path)
        return


def serve(
    options: Options,
    trigger: BaseTrigger,
    monitor_every: timedelta | None,
    host: str,
    port: int,
) -> int:
    """Run on ``trigger`` until SIGTERM or SIGINT; serve /metrics and /healthz meanwhile."""
    metrics = ScheduleMetrics()
    try:
        from mle_challenge.lifecycle import production

        metrics.recall(production.history(options.model_name))
    except Exception:  # the registry out of reach: the gauge starts at 0, the runs go on
        log.warning("could not read the history: the last success is unknown until a run")
    period = trigger_period(trigger, _now())
    if period is not None:
        metrics.set_period(period)
    if options.monitor:
        recall_monitoring(metrics, options.folder / "monitor")
    runner = Runner(options, metrics)
    scheduler = build_scheduler(runner, trigger, monitor_every)
    metrics.next_run = lambda: next_run_time(scheduler)
    server = start_http(make_app(metrics), host, port)
    # SIGUSR1 asks for a run now (`docker kill -s USR1`, `kill -USR1 PID`): an operator who
    # uploaded a new scrape need not wait for the tick. The handler only sets a flag: the
    # scheduler's locks are taken here, in the loop, never inside a signal handler.
    asked = threading.Event()
    previous = signal.signal(signal.SIGUSR1, lambda *_: asked.set())
    with stop_on_signals() as stop:
        scheduler.start()
        log.info(
            "scheduled %s on %s (%s); next run %s; /metrics and /healthz on http://%s:%d; "
            "SIGUSR1 runs now",
            options.listings, options.trigger, options.model_name,
            metrics.health()["next_run"], host, server.server_port,
        )  # fmt: skip
        while not stop.wait(1.0):
            if asked.is_set():
                asked.clear()
                log.info("SIGUSR1: a run now")
                run_now(scheduler, runner, "run now (SIGUSR1)")
        signal.signal(signal.SIGUSR1, previous)
        log.info("stopping: the scheduler, a running training, then the HTTP server")
        scheduler.pause()
        runner.stop()
        scheduler.shutdown(wait=True)  # the run thread records `interrupted`
        server.shutdown()
        server.server_close()
    return 0
