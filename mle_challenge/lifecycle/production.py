"""The ``production`` alias on top of the BentoML store: a movable pointer with an append-only
history, promotion and rollback.

BentoML labels are fixed when a model is saved, so the alias lives beside the store, in
``$BENTOML_HOME/mle_challenge/``: one JSON file written atomically (temporary file, then
``os.replace``), guarded by an exclusive ``flock`` so two promotions at once cannot interleave:
one wins, the other fails with a clear error and changes nothing. The alias records the model's
content hash, and resolving it checks that hash, so a model altered in the store is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mle_challenge.errors import MleError, RegistryError
from mle_challenge.lifecycle.registry import MODEL_NAME, resolve_tag
from mle_challenge.lifecycle.store import (
    IntegrityError,
    matches,
    model_path,
    read_card,
    scan,
    state_dir,
    verified,
    write_json_atomic,
)

ALIAS = "production"


class PromotionError(MleError):
    """A promotion or rollback was refused, or another one is in progress."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container with a random uid
        return os.environ.get("USER", "unknown")


# --- the production alias ---


@dataclass(frozen=True)
class Alias:
    tag: str
    content_hash: str
    since: str
    user: str
    reason: str
    previous: tuple[str, ...]  # earlier production models, the most recent last


def _alias_dir(name: str) -> Path:
    return state_dir() / "aliases" / name


def read_alias(name: str = MODEL_NAME) -> Alias | None:
    path = _alias_dir(name) / f"{ALIAS}.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return Alias(**{**raw, "previous": tuple(raw.get("previous", ()))})


def production_tag(name: str = MODEL_NAME) -> str | None:
    """The production model's tag, checked against its recorded content hash; None if unset."""
    alias = read_alias(name)
    if alias is None:
        return None
    try:
        folder = model_path(alias.tag)
    except RegistryError as exc:
        raise IntegrityError(
            f"the production model {alias.tag} is not in the store: pull it "
            "(`mle-challenge models pull URL`), or make another model production "
            "(`mle-challenge rollback`, `mle-challenge promote TAG`)."
        ) from exc
    if not matches(folder, alias.content_hash):
        raise IntegrityError(
            f"the production model {alias.tag} does not match the content hash recorded when it "
            f"was promoted ({alias.content_hash}). Roll back or promote another model."
        )
    return alias.tag


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    folder = _alias_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PromotionError(
                f"another promotion or rollback of {name} is in progress; nothing was changed. "
                "Try again when it has finished."
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _log(name: str, event: dict[str, Any]) -> None:
    with (_alias_dir(name) / "history.jsonl").open("a") as log:
        log.write(json.dumps(event, sort_keys=True) + "\n")
        log.flush()
        os.fsync(log.fileno())


def _set(
    name: str,
    tag: str,
    reason: str,
    previous: tuple[str, ...],
    action: str,
    user: str | None = None,
) -> Alias:
    current = read_alias(name)
    alias = Alias(
        tag=tag,
        content_hash=read_card(tag)["content_hash"],  # callers verified it just before
        since=_now(),
        user=user or _user(),
        reason=reason,
        previous=previous,
    )
    write_json_atomic(
        _alias_dir(name) / f"{ALIAS}.json", alias.__dict__ | {"previous": list(previous)}
    )
    _log(
        name,
        {
            "time": alias.since,
            "user": alias.user,
            "action": action,
            "from": current.tag if current else None,
            "to": tag,
            "reason": reason,
        },
    )
    return alias


def promote(
    tag: str | None, *, reason: str = "", force: bool = False, user: str | None = None
) -> Alias:
    """Make ``tag`` the production model, if its gate passed (or ``force`` with a reason).
    ``user`` is who or what promoted it, for the history (default: the login name)."""
    exact = verified(resolve_tag(tag))
    name = exact.split(":")[0]
    gate = read_card(exact).get("gate")
    if not force:
        if gate is None:
            raise PromotionError(
                f"{exact} has no gate result: run `mle-challenge gate {exact}` first, "
                "or pass --force with --reason."
            )
        if not gate.get("passed"):
            failed = ", ".join(c["name"] for c in gate.get("checks", []) if not c["passed"])
            raise PromotionError(
                f"{exact} failed its gate ({failed}): promote another model, "
                "or pass --force with --reason to override."
            )
    elif not reason.strip():
        raise PromotionError("--force needs --reason: say why the gate is overridden.")
    with _exclusive(name):
        current = read_alias(name)
        if current is not None and current.tag == exact:
            return current
        previous = (*current.previous, current.tag) if current else ()
        label = reason or "promoted"
        reason = f"{label} (gate overridden)" if force else label
        return _set(name, exact, reason, previous, "promote", user)


def rollback(name: str = MODEL_NAME, *, reason: str = "", user: str | None = None) -> Alias:
    """Return production to the model it replaced."""
    with _exclusive(name):
        current = read_alias(name)
        if current is None or not current.previous:
            raise PromotionError(
                f"nothing to roll back to: {name} has no earlier production model."
            )
        target = verified(current.previous[-1])
        return _set(name, target, reason or "rollback", current.previous[:-1], "rollback", user)


def record_event(name: str, event: dict[str, Any]) -> None:
    """Append an event other than a promotion to ``name``'s history (a scheduled run, say):
    at least ``action``, ``user`` and ``reason``; ``time`` is added when missing, and
    ``from``/``to`` default to the production model now."""
    current = production_tag_unchecked(name)
    entry = {"time": _now(), "from": current, "to": current, **event}
    _alias_dir(name).mkdir(parents=True, exist_ok=True)
    _log(name, entry)


def production_tag_unchecked(name: str = MODEL_NAME) -> str | None:
    """The production alias's tag without checking the model (for records, not for loading)."""
    alias = read_alias(name)
    return alias.tag if alias else None


def history(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    path = _alias_dir(name) / "history.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def model_rows(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """One row per model folder, newest first, for ``mle-challenge models list``; a damaged
    or altered model gets a row that says what is wrong with it instead of failing the list."""
    alias = read_alias(name)
    rows = []
    for stored in scan(name):
        info = stored.info
        metrics: Any = (info.metadata.get("metrics") if info else None) or {}
        gate = read_card(stored.tag).get("gate")
        rows.append(
            {
                "tag": stored.tag,
                "created": info.creation_time.isoformat(timespec="seconds") if info else "",
                "candidate": info.labels.get("candidate", "") if info else "",
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "roc_auc_ovr": metrics.get("roc_auc_ovr"),
                "gate": "-" if gate is None else ("passed" if gate.get("passed") else "failed"),
                "production": alias is not None and alias.tag == stored.tag,
                "problem": stored.problem,
            }
        )
    return sorted(rows, key=lambda row: row["created"], reverse=True)
