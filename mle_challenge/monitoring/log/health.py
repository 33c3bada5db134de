"""What the writer says of itself: the count of every row's fate, and its state (ok,
spilling, holding) with the reason, for ``/metrics`` and ``GET /status``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Counts:
    """What happened to the rows handed to the log (each only ever grows).

    Every row recorded ends as exactly one of written, spilled (then replayed, maybe by another
    process) or dropped; ``torn`` and ``quarantined`` count spilled rows a replay could not read.
    """

    written: int = 0
    spilled: int = 0
    replayed: int = 0
    dropped: int = 0  # a full queue, or neither the database nor the spill took them in time
    torn: int = 0  # cut-off last lines of spill files (a write the disk or a kill cut short)
    quarantined: int = 0  # lines of spill files set aside as unreadable (``*.quarantined``)
    failures: int = 0  # times the database could not be written
    spill_failures: int = 0  # times the spill file could not be written
    observers: list[Callable[[str, int], None]] = field(default_factory=list, repr=False)

    def add(self, event: str, n: int) -> None:
        setattr(self, event, getattr(self, event) + n)
        for observe in self.observers:
            observe(event, n)


@dataclass(frozen=True)
class LogHealth:
    """The writer's state: ``ok``; ``spilling`` (the database does not take rows, the spill
    file does: nothing is lost); ``holding`` (neither does: rows wait in memory, up to the
    queue's bound, and are dropped past it)."""

    state: str
    reason: str  # the last error, one line; empty when ok
    held: int  # rows in memory that neither the database nor the spill has taken
    queued: int

    @property
    def degraded(self) -> bool:
        return self.state != "ok"
