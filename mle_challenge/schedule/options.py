"""What every scheduled run does: ``mle-challenge schedule``'s options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    """What every run does (``mle-challenge schedule``'s options)."""

    listings: str
    params: str | None  # None with a project and no --params: its own sections
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
    project: str | None = None  # --project (absolute), passed to every run's `train`

    @property
    def folder(self) -> Path:
        """The lock, the run logs and the reports: under the outputs' folder, or under this
        machine's mirror of shared outputs (a lock must be a local file to be flock'ed); a
        project's under its model name."""
        from mle_challenge.lifecycle.outputs import Outputs

        folder = Outputs(str(self.outputs)).local / "schedule"
        # A named project's schedule is its own (lock, runs, reports): two projects sharing
        # --outputs do not wait for each other's runs. The Airbnb default keeps its folder.
        return folder / self.model_name if self.project else folder
