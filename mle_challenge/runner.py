"""Run the Luigi pipeline from Python (the CLI's `train`) and summarise the outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import luigi
from luigi.execution_summary import LuigiStatusCode

from mle_challenge.config import load_params

if TYPE_CHECKING:
    from mle_challenge.pipeline import TrainingPipeline

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
    params_path: str,
    outputs: str,
    workers: int = 1,
    scheduler_url: str | None = None,
) -> TrainingOutcome:
    """Build the pipeline; unlike ``luigi.build``'s bool, ``ok`` is False when any task failed."""
    from mle_challenge.pipeline import TrainingPipeline

    load_params(params_path)  # fail on a bad file before Luigi swallows the error in a task
    task = TrainingPipeline(listings=source, params=params_path, root=outputs)
    task.requires()  # hash the source up front, so a missing file is our clear error
    scheduler = {"scheduler_url": scheduler_url} if scheduler_url else {"local_scheduler": True}
    result = luigi.build(
        [task], workers=workers, detailed_summary=True, log_level="WARNING", **scheduler
    )
    ok = result.status in _OK
    if not ok:
        return TrainingOutcome(ok=False, summary=result.summary_text, table="")
    return TrainingOutcome(
        ok=True,
        summary=result.summary_text,
        table=_table(task),
        tag=task.registered()["tag"],
        gate=task.gate_result(),
    )


def _table(task: TrainingPipeline) -> str:
    record = task.registered()
    lines = [
        f"{'candidate':<16} {'val acc':>8} {'val F1':>8} {'test acc':>9} {'test F1':>8} "
        f"{'test AUC':>9}"
    ]
    for name, m in sorted(record["candidates"].items()):
        mark = " *" if name == record["selected"] else ""
        v, t = m["validation"], m["test"]
        lines.append(
            f"{name + mark:<16} {v['accuracy']:>8.3f} {v['macro_f1']:>8.3f} "
            f"{t['accuracy']:>9.3f} {t['macro_f1']:>8.3f} {t['roc_auc_ovr'] or 0:>9.3f}"
        )
    lines.append(f"selected: {record['selected']} (by validation {record['metric']})")
    lines.append(f"registered: {record['tag']}")
    lines.append(f"report: {record['report']}")
    return "\n".join(lines)
