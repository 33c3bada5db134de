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

The modules: ``outcome`` (what a run gives, and the rules that decide it), ``cron`` (when),
``options``, ``child`` (the training child process), ``runner`` (one run), ``metrics`` and
``server`` (``/metrics``, ``/healthz``), ``loop`` (the process, ``--once``).

May import: every part and the pipeline (it runs the pipeline, monitors, promotes).

Operations guide: docs/operations.md.
"""

from __future__ import annotations

from mle_challenge.schedule.child import (
    Interrupted,
    Training,
    TrainingProcess,
    TrainingTimeout,
    failed_tasks,
    last_exception,
    read_training,
)
from mle_challenge.schedule.cron import (
    CRON_EXAMPLE,
    cron_weekdays,
    duration,
    every_seconds,
    parse_cron,
    trigger_period,
)
from mle_challenge.schedule.loop import (
    CHECK_JOB,
    RUN_JOB,
    build_scheduler,
    next_run_time,
    recall_monitoring,
    run_now,
    run_once,
    serve,
    stop_on_signals,
)
from mle_challenge.schedule.metrics import ScheduleMetrics
from mle_challenge.schedule.options import Options
from mle_challenge.schedule.outcome import (
    EXIT_STATUS,
    OUTCOMES,
    SUCCESS,
    Monitoring,
    Outcome,
    RunRecord,
    _now,
    decide_outcome,
    drift_alarms,
    failed_checks,
    judged_models,
    unchanged_detail,
)
from mle_challenge.schedule.runner import Runner, single_run
from mle_challenge.schedule.server import make_app, start_http

__all__ = [
    "CHECK_JOB",
    "CRON_EXAMPLE",
    "EXIT_STATUS",
    "OUTCOMES",
    "RUN_JOB",
    "SUCCESS",
    "Interrupted",
    "Monitoring",
    "Options",
    "Outcome",
    "RunRecord",
    "Runner",
    "ScheduleMetrics",
    "Training",
    "TrainingProcess",
    "TrainingTimeout",
    "_now",
    "build_scheduler",
    "cron_weekdays",
    "decide_outcome",
    "drift_alarms",
    "duration",
    "every_seconds",
    "failed_checks",
    "failed_tasks",
    "judged_models",
    "last_exception",
    "make_app",
    "next_run_time",
    "parse_cron",
    "read_training",
    "recall_monitoring",
    "run_now",
    "run_once",
    "serve",
    "single_run",
    "start_http",
    "stop_on_signals",
    "trigger_period",
    "unchanged_detail",
]
