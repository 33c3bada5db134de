"""Progress of a training run, so that a long run never looks hung.

Each stage reports its steps (a candidate fitted, a fold done...) as one line on stderr, with
the time since the run began and since the stage began, and as Luigi's status message and
progress percentage, which ``luigid``'s page shows. Model code reports through a plain
:data:`Progress` callback and knows nothing of Luigi.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

# What model code is handed to report a step: one short line, e.g. "fold 2 of 5 fitted".
Progress = Callable[[str], None]

# When this run began (time.monotonic()); forked Luigi workers inherit it. None until a run
# begins: the `luigi` command's first report starts the clock.
_run_started: list[float] = []


def begin_run(now: float | None = None) -> None:
    """Start the run's clock (``run_training`` does, before Luigi starts its workers)."""
    _run_started[:] = [time.monotonic() if now is None else now]


def run_seconds(now: float) -> float:
    """Seconds since the run began (starting the clock on the first call)."""
    if not _run_started:
        begin_run(now)
    return now - _run_started[0]


def format_elapsed(seconds: float) -> str:
    """``42 s``, ``3 min 02 s``, ``1 h 05 min``: short, and readable at a glance."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def progress_line(label: str, message: str, run: float, stage: float) -> str:
    """One progress line: ``[3 min 02 s] train hgb: fold 2 of 5 fitted (41 s in this stage)``."""
    return f"[{format_elapsed(run)}] {label}: {message} ({format_elapsed(stage)} in this stage)"


@dataclass
class StageReporter:
    """Reports one stage's steps: a line on ``out``, and Luigi's status and percentage."""

    label: str  # the stage, and its candidate where it has one: "train hgb_tuned"
    status: Callable[[str], None]  # Luigi's set_status_message
    percentage: Callable[[int], None]  # Luigi's set_progress_percentage
    out: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        run_seconds(self.started)  # the `luigi` command: the first stage starts the clock

    def __call__(self, message: str, percent: int | None = None) -> None:
        now = self.clock()
        line = progress_line(self.label, message, run_seconds(now), now - self.started)
        print(line, file=self.out, flush=True)
        self.status(line)
        if percent is not None:
            self.percentage(percent)
