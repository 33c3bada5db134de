"""Running the pipeline from Python (the CLI's ``train``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import luigi
import luigi.configuration
from luigi.execution_summary import LuigiStatusCode

from mle_challenge.lifecycle.outputs import Outputs
from mle_challenge.pipeline.entry import TrainingPipeline
from mle_challenge.pipeline.lock import outputs_lock
from mle_challenge.pipeline.progress import begin_run

_OK = {LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY}


@dataclass(frozen=True)
class TrainingOutcome:
    ok: bool
    summary: str
    table: str
    tag: str | None = None  # the registered model, when the run succeeded
    gate: dict[str, Any] | None = None  # its gate result


def run_training(
    source: str,
    params_path: str | None,
    outputs: str,
    workers: int = 1,
    scheduler_url: str | None = None,
    model_name: str | None = None,
) -> TrainingOutcome:
    """Build the pipeline; unlike ``luigi.build``'s bool, ``ok`` is False when any task failed.
    ``params_path`` None: ``./params.yaml`` if there is one, else the packaged defaults.
    ``model_name`` None: the params' ``register.model_name``."""
    from mle_challenge.config import load_params, params_source

    params = params_source(params_path).path
    load_params(params)  # fail on a bad file before Luigi swallows the error in a task
    Outputs(outputs).check()  # shared outputs out of reach: one clear error, before any work
    # luigid coordinates its workers; a local scheduler would race another run's files.
    lock = outputs_lock(outputs) if not scheduler_url else contextlib.nullcontext()
    with lock:
        begin_run()
        return _build(source, str(params), outputs, workers, scheduler_url, model_name)


def _build(
    source: str,
    params: str,
    outputs: str,
    workers: int,
    scheduler_url: str | None,
    model_name: str | None,
) -> TrainingOutcome:
    from mle_challenge.config import check_model_name
    from mle_challenge.lifecycle import failures

    # A plain string of the resolved path: the task's id names the file actually read.
    task = TrainingPipeline(
        listings=source,
        params=str(params),
        root=outputs,
        model_name=check_model_name(model_name) if model_name else "",
    )
    task.requires()  # hash the source up front, so a missing file is our clear error
    scheduler = {"scheduler_url": scheduler_url} if scheduler_url else {"local_scheduler": True}
    if scheduler_url:
        # Several workers on one luigid: a worker whose next task another worker is running
        # waits for it, then goes on with what depends on it, instead of stopping there.
        luigi.configuration.get_config().set("worker", "keep_alive", "true")
    failures.quiet_our_errors()
    result = luigi.build(
        [task], workers=workers, detailed_summary=True, log_level="WARNING", **scheduler
    )
    # With several workers on one luigid, the tasks another worker ran are "not granted run
    # permission" in this worker's summary: the run is good when the pipeline is complete.
    ok = result.status in _OK or (result.status == LuigiStatusCode.NOT_RUN and task.complete())
    if not ok:
        failures.raise_task_error(result.worker)  # bad data: our one line, not Luigi's summary
        return TrainingOutcome(ok=False, summary=result.summary_text, table="")
    return TrainingOutcome(
        ok=True,
        summary=result.summary_text,
        table=_table(task),
        tag=task.registered()["tag"],
        gate=task.gate_result(),
    )


def _table(task: TrainingPipeline) -> str:
    from mle_challenge.model.evaluate import training_table

    return training_table(task.registered())
