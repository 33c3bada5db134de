"""The scheduler's Prometheus gauges and counters, and its health."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from mle_challenge.schedule.outcome import OUTCOMES, SUCCESS, RunRecord


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
