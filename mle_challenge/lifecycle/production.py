"""Model lifecycle on top of the BentoML store: content hashes, model cards (gate results), a
movable ``production`` alias with an append-only history, promotion and rollback.

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
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mle_challenge.errors import MleError
from mle_challenge.lifecycle.registry import MODEL_NAME, bentoml_home, resolve_tag

ALIAS = "production"


class PromotionError(MleError):
    """A promotion or rollback was refused, or another one is in progress."""


class IntegrityError(MleError):
    """A model's files no longer match the content hash recorded for it."""


def state_dir() -> Path:
    return Path(bentoml_home()) / "mle_challenge"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container with a random uid
        return os.environ.get("USER", "unknown")


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON so readers see the old file or the new one, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(payload, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- content hashes and cards ---


def content_hash(folder: Path) -> str:
    """sha256 over every file of a model folder: relative path, size and bytes, in order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        digest.update(f"{relative}\0{file.stat().st_size}\0".encode())
        with file.open("rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def model_path(tag: str) -> Path:
    import bentoml

    return Path(bentoml.models.get(tag).path)


def _card_path(tag: str) -> Path:
    name, version = tag.split(":", 1)
    return state_dir() / "cards" / name / f"{version}.json"


def read_card(tag: str) -> dict[str, Any]:
    """What we know of a model beyond BentoML's metadata: its content hash and gate result."""
    path = _card_path(tag)
    if not path.is_file():
        return {"tag": tag}
    return dict(json.loads(path.read_text()))


def update_card(tag: str, **fields: Any) -> dict[str, Any]:
    card = read_card(tag) | fields
    card.setdefault("content_hash", content_hash(model_path(tag)))
    write_json_atomic(_card_path(tag), card)
    return card


def verified(tag: str) -> str:
    """``tag`` after checking its files against the recorded content hash."""
    card = read_card(tag)
    expected = card.get("content_hash")
    if expected is None:
        card = update_card(tag)  # first sight of this model: record what it is now
        return tag
    actual = content_hash(model_path(tag))
    if actual != expected:
        raise IntegrityError(
            f"model {tag} does not match its recorded content hash ({actual} != {expected}): "
            "its files changed after it was registered. Pull it again or promote another model."
        )
    return tag


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
    actual = content_hash(model_path(alias.tag))
    if actual != alias.content_hash:
        raise IntegrityError(
            f"the production model {alias.tag} does not match the content hash recorded when it "
            f"was promoted ({actual} != {alias.content_hash}). Roll back or promote another model."
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


def _set(name: str, tag: str, reason: str, previous: tuple[str, ...], action: str) -> Alias:
    current = read_alias(name)
    alias = Alias(
        tag=tag,
        content_hash=read_card(tag)["content_hash"],  # callers verified it just before
        since=_now(),
        user=_user(),
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


def promote(tag: str | None, *, reason: str = "", force: bool = False) -> Alias:
    """Make ``tag`` the production model, if its gate passed (or ``force`` with a reason)."""
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
        return _set(
            name, exact, f"{label} (gate overridden)" if force else label, previous, "promote"
        )


def rollback(name: str = MODEL_NAME, *, reason: str = "") -> Alias:
    """Return production to the model it replaced."""
    with _exclusive(name):
        current = read_alias(name)
        if current is None or not current.previous:
            raise PromotionError(
                f"nothing to roll back to: {name} has no earlier production model."
            )
        target = verified(current.previous[-1])
        return _set(name, target, reason or "rollback", current.previous[:-1], "rollback")


def history(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    path = _alias_dir(name) / "history.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def model_rows(name: str = MODEL_NAME) -> list[dict[str, Any]]:
    """One row per registered model, newest first: for ``mle-challenge models list``."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        models = bentoml.models.list(name)
    except NotFound:
        return []
    alias = read_alias(name)
    rows = []
    for model in sorted(models, key=lambda m: m.info.creation_time, reverse=True):
        tag = str(model.tag)
        metrics: Any = model.info.metadata.get("metrics") or {}
        gate = read_card(tag).get("gate")
        rows.append(
            {
                "tag": tag,
                "created": model.info.creation_time.isoformat(timespec="seconds"),
                "candidate": model.info.labels.get("candidate", ""),
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "roc_auc_ovr": metrics.get("roc_auc_ovr"),
                "gate": "-" if gate is None else ("passed" if gate.get("passed") else "failed"),
                "production": alias is not None and alias.tag == tag,
            }
        )
    return rows
