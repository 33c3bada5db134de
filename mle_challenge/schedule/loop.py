"""The scheduler process: the run job on its trigger, the monitoring checks, signals, and
``--once``."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mle_challenge.schedule.cron import trigger_period
from mle_challenge.schedule.metrics import ScheduleMetrics
from mle_challenge.schedule.options import Options
from mle_challenge.schedule.outcome import Monitoring, RunRecord, _now
from mle_challenge.schedule.runner import Runner
from mle_challenge.schedule.server import make_app, start_http

log = logging.getLogger(__name__)

RUN_JOB, CHECK_JOB = "run", "monitor-check"


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
    scheduler.add_job(_announced(runner.run), trigger, id=RUN_JOB, name="run", **once)

    def check() -> None:
        found = runner.check()
        if found.drift:
            run_now(scheduler, runner, f"drift: {'; '.join(found.drift)}")

    if monitor_every is not None:
        every = IntervalTrigger(seconds=monitor_every.total_seconds(), timezone=UTC)
        scheduler.add_job(check, every, id=CHECK_JOB, name="monitor check", **once)

    def skipped(event: JobSubmissionEvent) -> None:
        if event.job_id == RUN_JOB:
            record = runner.skip(f"a tick came while a run was still going (due {_due(event)})")
            _announce(record)

    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _announce(record: RunRecord | None) -> None:
    """Log a run's line: the long-running scheduler's only word on it (``--once`` prints its
    one line on stdout instead, so a terminal shows it once)."""
    if record is not None:
        log.info("run: %s", record.line())


def _announced(run: Callable[[], RunRecord | None]) -> Callable[[], None]:
    def job() -> None:
        _announce(run())

    return job


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


def run_once(options: Options, runner: Runner | None = None) -> RunRecord:
    """One run now (``--once``); SIGTERM or SIGINT stops its training (``interrupted``). The
    caller prints its record's line: nothing here logs it."""
    runner = runner or Runner(options, ScheduleMetrics())
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
