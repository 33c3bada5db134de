"""The ``production`` alias on top of the BentoML store: a movable pointer with an append-only
history, promotion and rollback.

Each registered name (one per city: ``price_classifier``, ``price_classifier_boston``) has its
own alias and history; promoting a tag moves the alias of the tag's name only.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mle_challenge.config import check_model_name
from mle_challenge.errors import MleError, RegistryError
from mle_challenge.lifecycle import shared
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
    # Checked: the name becomes a folder, and one name's alias must never be another's.
    return state_dir() / "aliases" / check_model_name(name)


def _shared() -> str | None:
    return shared.registry_url()


def _alias_from(raw: dict[str, Any] | None) -> Alias | None:
    if raw is None:
        return None
    return Alias(**{**raw, "previous": tuple(raw.get("previous", ()))})


def read_alias(name: str = MODEL_NAME) -> Alias | None:
    """The production alias: in the shared registry when ``MLE_REGISTRY`` is set, else
    beside the local store."""
    prefix = _shared()
    if prefix is not None:
        return _alias_from(shared.read_state(name, prefix).alias)
    path = _alias_dir(name) / f"{ALIAS}.json"
    if not path.is_file():
        return None
    return _alias_from(json.loads(path.read_text()))


def production_tag(name: str = MODEL_NAME) -> str | None:
    """The production model's tag, checked against its recorded content hash; None if unset.
    With a shared registry, a production model this machine does not have is pulled first."""
    alias = read_alias(name)
    if alias is None:
        return None
    if _shared() is not None:
        shared.ensure_local(alias.tag)
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


Change = Callable[[Alias | None], tuple[Alias, dict[str, Any]] | None]


def _change(name: str, change: Change) -> Alias | None:
    """Apply ``change`` (current alias → new alias and its history event, or None for no
    change) as one step: under the local lock, or as one conditional write of the shared
    alias object, which fails rather than overwrite a change made meanwhile elsewhere."""
    prefix = _shared()
    if prefix is None:
        with _exclusive(name):
            current = read_alias(name)
            changed = change(current)
            if changed is None:
                return current
            alias, event = changed
            write_json_atomic(_alias_dir(name) / f"{ALIAS}.json", _alias_record(alias))
            _log(name, event)
            return alias
    state = shared.read_state(name, prefix)
    current = _alias_from(state.alias)
    changed = change(current)
    if changed is None:
        return current
    alias, event = changed
    after = shared.State(_alias_record(alias), [*state.history, event], state.etag)
    try:
        shared.write_state(name, prefix, after)
    except shared.ConflictError as exc:
        now = read_alias(name)
        raise PromotionError(
            f"another promotion or rollback of {name} won the race (production is now "
            f"{now.tag if now else 'unset'}); this one changed nothing. See "
            "`mle-challenge models history`, then try again if it is still wanted."
        ) from exc
    return alias


def _alias_record(alias: Alias) -> dict[str, Any]:
    return alias.__dict__ | {"previous": list(alias.previous)}


def _moved(
    current: Alias | None,
    tag: str,
    reason: str,
    previous: tuple[str, ...],
    action: str,
    user: str | None,
) -> tuple[Alias, dict[str, Any]]:
    alias = Alias(
        tag=tag,
        content_hash=read_card(tag)["content_hash"],  # callers verified it just before
        since=_now(),
        user=user or _user(),
        reason=reason,
        previous=previous,
    )
    event = {
        "time": alias.since,
        "user": alias.user,
        "action": action,
        "from": current.tag if current else None,
        "to": tag,
        "reason": reason,
    }
    return alias, event


def promote(
    tag: str | None, *, reason: str = "", force: bool = False, user: str | None = None
) -> Alias:
    """Make ``tag`` the production model, if its gate passed (or ``force`` with a reason).
    ``user`` is who or what promoted it, for the history (default: the login name). With a
    shared registry the model is pushed there first, so every machine can pull it."""
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
    shared.push_registered(exact)
    label = reason or "promoted"
    why = f"{label} (gate overridden)" if force else label

    def change(current: Alias | None) -> tuple[Alias, dict[str, Any]] | None:
        if current is not None and current.tag == exact:
            return None
        previous = (*current.previous, current.tag) if current else ()
        return _moved(current, exact, why, previous, "promote", user)

    alias = _change(name, change)
    assert alias is not None
    return alias


def rollback(name: str = MODEL_NAME, *, reason: str = "", user: str | None = None) -> Alias:
    """Return production to the model it replaced."""

    def change(current: Alias | None) -> tuple[Alias, dict[str, Any]] | None:
        if current is None or not current.previous:
            raise PromotionError(
                f"nothing to roll back to: {name} has no earlier production model."
            )
        target = verified(shared.ensure_local(current.previous[-1]))
        return _moved(
            current, target, reason or "rollback", current.previous[:-1], "rollback", user
        )

    alias = _change(name, change)
    assert alias is not None
    return alias


def record_event(name: str, event: dict[str, Any]) -> None:
    """Append an event other than a promotion to ``name``'s history (a scheduled run, say):
    at least ``action``, ``user`` and ``reason``; ``time`` is added when missing, and
    ``from``/``to`` default to the production model now."""
    prefix = _shared()
    for _ in range(5):  # events do not conflict with each other: retry a lost race
        if prefix is None:
            current = production_tag_unchecked(name)
            _alias_dir(name).mkdir(parents=True, exist_ok=True)
            _log(name, {"time": _now(), "from": current, "to": current, **event})
            return
        state = shared.read_state(name, prefix)
        current = (state.alias or {}).get("tag")
        entry = {"time": _now(), "from": current, "to": current, **event}
        try:
            shared.write_state(
                name, prefix, shared.State(state.alias, [*state.history, entry], state.etag)
            )
            return
        except shared.ConflictError:
            continue
    raise PromotionError(f"could not record an event in {name}'s shared history: it kept changing")


def production_tag_unchecked(name: str = MODEL_NAME) -> str | None:
    """The production alias's tag without checking the model (for records, not for loading)."""
    alias = read_alias(name)
    return alias.tag if alias else None


def history(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """Every promotion, rollback and recorded event of ``name``, oldest first."""
    prefix = _shared()
    if prefix is not None:
        return shared.read_state(name, prefix).history
    path = _alias_dir(name) / "history.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def model_rows(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """One row per model folder, newest first, for ``mle-challenge models list``; a damaged
    or altered model gets a row that says what is wrong with it instead of failing the list."""
    alias = read_alias(name)
    if alias is not None and _shared() is not None:
        shared.ensure_local(alias.tag)  # every machine lists what production is, pulled
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
