"""One scheduled run at a time: monitor (optional), train in a child process, decide, promote,
record. A lock file in ``<outputs>/schedule/`` keeps runs single across processes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mle_challenge.errors import MleError
from mle_challenge.pipeline.lock import exclusive
from mle_challenge.schedule.child import (
    Interrupted,
    Training,
    TrainingProcess,
    TrainingTimeout,
    read_training,
)
from mle_challenge.schedule.metrics import ScheduleMetrics
from mle_challenge.schedule.options import Options
from mle_challenge.schedule.outcome import (
    Monitoring,
    Outcome,
    RunRecord,
    _now,
    _run_id,
    decide_outcome,
    failed_checks,
    judged_models,
    unchanged_detail,
)

log = logging.getLogger(__name__)


# One scheduled run at a time, across processes: the lock the training runs take too.
single_run = exclusive


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

        self.metrics.finished(record)  # the caller says it: a log line, or --once's stdout
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
            detail = self._detail(outcome, gate, tag, before)
            return self._end(outcome, started, [*reasons, detail], tag, before)
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

    def _detail(
        self, outcome: Outcome, gate: Mapping[str, Any], tag: str, production: str | None
    ) -> str:
        if outcome == "unchanged":
            return unchanged_detail(self.options.listings, tag, production)
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
                project_path=self.options.project,
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
        command += ["--project", o.project] if o.project else []
        command += ["--params", o.params] if o.params else []
        command += ["--outputs", str(o.outputs), "--workers", str(o.workers)]
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
