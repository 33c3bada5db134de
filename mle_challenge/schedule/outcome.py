"""What a scheduled run gives: its outcome, its record in the history, and the pure rules that
decide it (a model already judged is ``unchanged`` and never promoted again)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

Outcome = Literal["promoted", "unchanged", "gate-failed", "error", "skipped", "interrupted"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
SUCCESS: frozenset[Outcome] = frozenset({"promoted", "unchanged"})
# --once's exit status: a run that was skipped because another one is going is no failure.
EXIT_STATUS: Mapping[Outcome, int] = {o: 0 if o in SUCCESS | {"skipped"} else 1 for o in OUTCOMES}


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


def unchanged_detail(listings: str, tag: str, production: str | None) -> str:
    """Why an ``unchanged`` run promoted nothing, naming its model for what it is: the
    production model, or one judged before that is not production (refused by its gate, or
    rolled back), which the scheduler leaves to a person."""
    if tag == production:
        return f"{listings}: its model is production already"
    now = f"{production} is" if production else "none is"
    return (
        f"{listings}: its model was registered and judged before, and is not production "
        f"({now}): `mle-challenge promote {tag}` to serve it"
    )


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


def _now() -> datetime:
    return datetime.now(UTC)


def _run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%S}.{started.microsecond // 1000:03d}Z"
