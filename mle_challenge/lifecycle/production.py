"""The ``production`` alias on top of the BentoML store: a movable pointer with an append-only
history, promotion and rollback, written once over an :class:`~.shared.AliasStore` (beside the
local store, or in the shared registry on S3, signed).

Each registered name (one per city: ``price_classifier``, ``price_classifier_boston``) has its
own alias and history; promoting a tag moves the alias of the tag's name only.

A change is one step of the store: of two promotions at once one wins, the other fails with a
clear error and changes nothing. The alias records the model's content hash, and resolving it
checks that hash, so a model altered in the store is refused. It records the gate's verdict
and whether the promotion overrode it, so a following service can refuse a model whose gate
failed unless a promotion signed as forced named it.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from mle_challenge.errors import MleError, RegistryError
from mle_challenge.lifecycle import shared
from mle_challenge.lifecycle.registry import MODEL_NAME, resolve_tag
from mle_challenge.lifecycle.shared import ConflictError, State, UntrustedAlias
from mle_challenge.lifecycle.store import (
    IntegrityError,
    covers_metadata,
    matches,
    model_path,
    read_card,
    scan,
    state_dir,
    verified,
)

__all__ = ["Alias", "PromotionError", "UntrustedAlias", "promote", "rollback", "state_dir"]

ALIAS = shared.ALIAS


class PromotionError(MleError):
    """A promotion or rollback was refused, or another one is in progress."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def user_name() -> str:
    """Who runs this, for the history: the login name."""
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
    gate: str | None = None  # the verdict where it was promoted: passed, failed, None (none)
    forced: bool = False  # the promotion overrode the gate (--force, with a reason)


_REQUIRED = ("tag", "content_hash", "since", "user", "reason")


def _alias_from(raw: dict[str, Any] | None) -> Alias | None:
    """The alias in a stored record (unknown keys ignored); :class:`UntrustedAlias` when it
    lacks what an alias has."""
    if raw is None:
        return None
    missing = [k for k in _REQUIRED if not isinstance(raw.get(k), str)]
    previous = raw.get("previous", [])
    if missing or not isinstance(previous, list) or not all(isinstance(p, str) for p in previous):
        raise UntrustedAlias(
            f"the production alias of {raw.get('tag', '?')} is not an alias (missing or wrong: "
            f"{', '.join(missing) or 'previous'}): restore it, or promote a model again."
        )
    known = {f.name for f in fields(Alias)}
    return Alias(**{k: v for k, v in raw.items() if k in known} | {"previous": tuple(previous)})


def _alias_record(alias: Alias) -> dict[str, Any]:
    return alias.__dict__ | {"previous": list(alias.previous)}


def read_alias(name: str = MODEL_NAME) -> Alias | None:
    """The production alias: in the shared registry when ``MLE_REGISTRY`` is set (refused
    unless its signature verifies), else beside the local store."""
    return _alias_from(shared.alias_store(name).read().alias)


def production_tag(name: str = MODEL_NAME) -> str | None:
    """The production model's tag, checked against its recorded content hash; None if unset.
    With a shared registry, a production model this machine does not have is pulled first.
    An alias naming a failed gate without a forced promotion is refused, as followers do."""
    alias = read_alias(name)
    if alias is None:
        return None
    _gate_honoured(alias, name)
    if shared.registry_url() is not None:
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


def production_tag_unchecked(name: str = MODEL_NAME) -> str | None:
    """The production alias's tag without checking the model (for records, not for loading)."""
    alias = read_alias(name)
    return alias.tag if alias else None


# The longest history this process has read of each name: history is append-only, so a
# shorter one is an older alias object put back (its signature still verifies).
_seen_history: dict[str, int] = {}


def followable_tag(name: str = MODEL_NAME) -> str | None:
    """The tag a following service may move to. :class:`UntrustedAlias` when the alias is
    not signed with our key (shared registry), when its history is shorter than one this
    process read before (a replayed older object), or when it names a model whose gate failed
    while the promotion did not say it was forced."""
    state = shared.alias_store(name).read()
    seen = _seen_history.get(name, 0)
    if len(state.history) < seen:
        raise UntrustedAlias(
            f"the production alias of {name} has {len(state.history)} history entries, fewer "
            f"than the {seen} read before: an older alias object was put back. Promote again to "
            "move production; a service restarted after a new history was started follows it."
        )
    _seen_history[name] = len(state.history)
    alias = _alias_from(state.alias)
    return None if alias is None else _gate_honoured(alias, name).tag


def _gate_honoured(alias: Alias, name: str) -> Alias:
    """``alias``, unless it names a model whose gate failed without a forced promotion: no
    promotion writes that, so it was written by hand."""
    if alias.gate == "failed" and not alias.forced:
        raise UntrustedAlias(
            f"production of {name} names {alias.tag}, whose gate failed, and the promotion is "
            "not recorded as forced: promote a model that passed, or force it with a reason."
        )
    return alias


Change = Callable[[Alias | None], tuple[Alias, dict[str, Any]] | None]


def _change(name: str, change: Change) -> Alias:
    """Apply ``change`` (current alias → new alias and its history event, or None for no
    change) as one step of the alias store; the alias after it."""

    def update(state: State) -> State | None:
        changed = change(_alias_from(state.alias))
        if changed is None:
            return None
        alias, event = changed
        return State(_alias_record(alias), [*state.history, event], state.etag)

    try:
        after = shared.alias_store(name).update(update)
    except ConflictError as exc:
        raise PromotionError(str(exc)) from exc
    alias = _alias_from(after.alias)
    assert alias is not None  # every change names a model; "no change" keeps the current one
    return alias


def _gate_verdict(tag: str) -> str | None:
    gate = read_card(tag).get("gate")
    return None if gate is None else ("passed" if gate.get("passed") else "failed")


def _moved(
    current: Alias | None,
    tag: str,
    *,
    reason: str,
    previous: tuple[str, ...],
    action: str,
    user: str | None,
    forced: bool,
) -> tuple[Alias, dict[str, Any]]:
    alias = Alias(
        tag=tag,
        content_hash=read_card(tag)["content_hash"],  # callers verified it just before
        since=_now(),
        user=user or user_name(),
        reason=reason,
        previous=previous,
        gate=_gate_verdict(tag),
        forced=forced,
    )
    event = {
        "time": alias.since,
        "user": alias.user,
        "action": action,
        "from": current.tag if current else None,
        "to": tag,
        "reason": reason,
        "gate": alias.gate,
        "forced": forced,
    }
    return alias, event


def promote(
    tag: str | None, *, reason: str = "", force: bool = False, user: str | None = None
) -> Alias:
    """Make ``tag`` the production model, if its gate passed (or ``force`` with a reason).
    ``user`` is who or what promoted it, for the history (default: the login name). With a
    shared registry the model is pushed there first, and its archive there checked whole
    (pushed again if it is not), so every machine can pull what the alias names."""
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
        return _moved(
            current, exact, reason=why, previous=previous, action="promote", user=user, forced=force
        )

    return _change(name, change)


def rollback(name: str = MODEL_NAME, *, reason: str = "", user: str | None = None) -> Alias:
    """Return production to the model it replaced. Going back to a model that was production
    is the operator's explicit choice: when its gate verdict here is failed (it was forced
    before), the rollback is recorded as forced too."""

    def change(current: Alias | None) -> tuple[Alias, dict[str, Any]] | None:
        if current is None or not current.previous:
            raise PromotionError(
                f"nothing to roll back to: {name} has no earlier production model."
            )
        target = verified(shared.ensure_local(current.previous[-1]))
        return _moved(
            current,
            target,
            reason=reason or "rollback",
            previous=current.previous[:-1],
            action="rollback",
            user=user,
            forced=_gate_verdict(target) == "failed",
        )

    return _change(name, change)


def record_event(name: str, event: dict[str, Any]) -> None:
    """Append an event other than a promotion to ``name``'s history (a scheduled run, say):
    at least ``action``, ``user`` and ``reason``; ``time`` is added when missing, and
    ``from``/``to`` default to the production model now."""

    def update(state: State) -> State:
        current = (state.alias or {}).get("tag")
        entry = {"time": _now(), "from": current, "to": current, **event}
        return State(state.alias, [*state.history, entry], state.etag)

    for attempt in range(5):  # events do not conflict with each other: retry a lost race
        try:
            shared.alias_store(name).update(update)
            return
        except ConflictError:
            time.sleep(0.05 * (attempt + 1))
    raise PromotionError(f"could not record an event in {name}'s history: it kept changing")


def history(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """Every promotion, rollback and recorded event of ``name``, oldest first."""
    return shared.alias_store(name).read().history


@dataclass(frozen=True)
class ModelListing:
    """What ``models list`` shows: one row per model, and why the alias was refused (None
    when it was read and trusted, or is unset)."""

    rows: list[dict[str, Any]]
    alias_problem: str | None


def listing(name: str = MODEL_NAME) -> ModelListing:
    """One row per model folder, newest first; a damaged or altered model gets a row that
    says what is wrong with it, and an alias that is not trusted marks none as production,
    instead of failing the list."""
    try:
        alias, problem = read_alias(name), None
    except UntrustedAlias as exc:
        alias, problem = None, str(exc)
    if alias is not None and shared.registry_url() is not None:
        shared.ensure_local(alias.tag)  # every machine lists what production is, pulled
    rows = [_row(stored, alias) for stored in scan(name)]
    return ModelListing(sorted(rows, key=lambda row: row["created"], reverse=True), problem)


def _row(stored: Any, alias: Alias | None) -> dict[str, Any]:
    info = stored.info
    metrics: Any = (info.metadata.get("metrics") if info else None) or {}
    try:
        card = read_card(stored.tag)
    except IntegrityError:  # an unreadable card: the row's problem already says so
        card = {}
    gate = card.get("gate")
    return {
        "tag": stored.tag,
        "created": info.creation_time.isoformat(timespec="seconds") if info else "",
        "candidate": info.labels.get("candidate", "") if info else "",
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "roc_auc_ovr": metrics.get("roc_auc_ovr"),
        "gate": "-" if gate is None else ("passed" if gate.get("passed") else "failed"),
        "production": alias is not None and alias.tag == stored.tag,
        "problem": stored.problem,
        # The metrics and candidate shown are vouched for by the content hash, or not.
        "metadata_verified": covers_metadata(str(card.get("content_hash", ""))),
    }


def model_names() -> list[str]:
    """Every model name this store knows: its models' folders and its aliases, and always the
    default name, whose production a shared registry may hold with no model here yet (its
    listing pulls it)."""
    from mle_challenge.lifecycle.store import stored_names

    aliases = state_dir() / "aliases"
    named = {p.name for p in aliases.iterdir() if p.is_dir()} if aliases.is_dir() else set()
    return sorted({MODEL_NAME, *stored_names(), *named})
