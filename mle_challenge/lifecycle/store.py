"""The model store made safe: a model appears whole or not at all, and is checked when loaded.

BentoML saves a model by creating its folder in the store and then copying files into it, so a
kill part-way leaves an empty folder (which breaks ``bentoml models list``) or a truncated
pickle that BentoML lists as a valid model. Here every model is written in a staging folder on
the store's own filesystem, its content hash is recorded on its *card*, and only then is the
complete folder moved into the store with one ``rename``. Staging folders of processes that
died are swept away by the next writer.

A card (``$BENTOML_HOME/mle_challenge/cards/<name>/<version>.json``) holds what we know of a
model beyond BentoML's metadata: its content hash, its gate result and where it came from.
:func:`verified` checks a model's files against its card before anything loads it; a model
without a card was not registered or pulled by this toolkit, and is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mle_challenge.errors import MleError, RegistryError


class IntegrityError(MleError):
    """A model's files are missing, incomplete or no longer match its recorded content hash."""


def bentoml_home() -> Path:
    from bentoml._internal.configuration.containers import BentoMLContainer

    return Path(BentoMLContainer.bentoml_home.get())


def state_dir() -> Path:
    return bentoml_home() / "mle_challenge"


def _models_dir() -> Path:
    from bentoml._internal.configuration.containers import BentoMLContainer

    return Path(BentoMLContainer.model_store.get()._path)


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


# --- content hashes ---

_LEGACY = "sha256:"  # 0.1.0 cards: every file of the folder, model.yaml included
_PREFIX = "artifacts-sha256:"
_METADATA_FILE = "model.yaml"


# What in model.yaml changes how a model loads, predicts or validates its input; the rest is
# lineage (version, creation time, report path...) that differs between two saves of one model.
_PREDICTIVE_KEYS = ("module", "api_version", "signatures", "options", "context")
_PREDICTIVE_METADATA = ("categories", "classes", "feature_schema")


def content_hash(folder: Path) -> str:
    """sha256 over what predicts: every file of a model folder (relative path, size, bytes)
    except ``model.yaml``, and of ``model.yaml`` only what changes how the model loads and
    answers. Two saves of the same fitted model have the same hash."""
    import yaml

    digest = hashlib.sha256(_digest(folder, skip={_METADATA_FILE}).encode())
    try:
        info = yaml.safe_load((folder / _METADATA_FILE).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrityError(f"{folder / _METADATA_FILE} is unreadable: {exc}") from exc
    metadata = info.get("metadata") or {}
    predictive = {k: info.get(k) for k in _PREDICTIVE_KEYS} | {
        f"metadata.{k}": metadata.get(k) for k in _PREDICTIVE_METADATA
    }
    digest.update(json.dumps(predictive, sort_keys=True, default=str).encode())
    return _PREFIX + digest.hexdigest()


def _digest(folder: Path, skip: set[str]) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        if relative in skip:
            continue
        digest.update(f"{relative}\0{file.stat().st_size}\0".encode())
        with file.open("rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def matches(folder: Path, recorded: str) -> bool:
    """Whether ``folder`` still has the content ``recorded`` (either hash scheme)."""
    if recorded.startswith(_LEGACY):
        return recorded == _LEGACY + _digest(folder, skip=set())
    return recorded == content_hash(folder)


# --- cards ---


def _card_path(tag: str) -> Path:
    name, version = tag.split(":", 1)
    return state_dir() / "cards" / name / f"{version}.json"


def read_card(tag: str) -> dict[str, Any]:
    """What we know of a model beyond BentoML's metadata: content hash, gate result, origin."""
    path = _card_path(tag)
    if not path.is_file():
        return {"tag": tag}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"the card of {tag} ({path}) is unreadable: {exc}") from exc


def update_card(tag: str, **fields: Any) -> dict[str, Any]:
    """Add ``fields`` to the card of ``tag``, which must have been published (or pulled)."""
    card = read_card(tag) | fields
    write_json_atomic(_card_path(tag), card)
    return card


def model_path(tag: str) -> Path:
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound

    try:
        return Path(bentoml.models.get(tag).path)
    except NotFound as exc:
        raise RegistryError(
            f"model {tag} is not in the BentoML store ({bentoml_home()}): pull it "
            "(`mle-challenge models pull URL`) or train it again."
        ) from exc
    except BentoMLException as exc:
        raise IntegrityError(f"model {tag} is damaged in the store: {exc}") from exc


def verified(tag: str, expected: str | None = None) -> str:
    """``tag`` after checking its files against ``expected`` or the hash on its card.

    Called before anything loads a model (serving, bento builds, batch, the gate, promotion),
    so a model changed after it was registered is never unpickled.
    """
    _check(tag, model_path(tag), expected)
    return tag


def _check(tag: str, folder: Path, expected: str | None = None) -> None:
    recorded = expected or read_card(tag).get("content_hash")
    if recorded is None:
        raise IntegrityError(
            f"model {tag} has no recorded content hash: it was not registered or pulled by "
            "mle-challenge, so nothing vouches for its files. Register it with `mle-challenge "
            "train`, or pull it with `mle-challenge models pull`."
        )
    if not matches(folder, recorded):
        raise IntegrityError(
            f"model {tag} does not match its recorded content hash {recorded}: its files "
            "changed after it was registered. Pull it again or use another model."
        )


# --- staging and publishing ---


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: the owner of a staging or spill file named by it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def staging() -> Iterator[Path]:
    """A scratch folder on the store's filesystem, removed on every exit path; folders left
    by processes that were killed are removed first."""
    root = state_dir() / "staging"
    root.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        owner = entry.name.split("-", 1)[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(entry, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(folder: Path, tag: str, **card: Any) -> str:
    """Move a complete model folder into the store as ``tag`` with one rename.

    Its content hash goes on its card first, so a model in the store always has one. ``card``
    adds fields (such as where it came from). ``folder`` must be on the store's filesystem
    (inside :func:`staging`).
    """
    name, version = tag.split(":", 1)
    target = _models_dir() / name / version
    if target.exists() and any(target.iterdir()):
        raise RegistryError(f"model {tag} is already in the store at {target}")
    write_json_atomic(_card_path(tag), {"tag": tag, **card, "content_hash": content_hash(folder)})
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)  # atomic; replaces an empty folder left by an older crash
    # BentoML rebuilds `latest` from creation times when the file is missing.
    (target.parent / "latest").unlink(missing_ok=True)
    return tag


@contextlib.contextmanager
def bentoml_store_at(folder: Path) -> Iterator[Any]:
    """BentoML's model store, and its scratch files, redirected to ``folder`` for this block:
    what a BentoML save writes here lands in the yielded store, to be :func:`publish` ed from
    there once the block has ended."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    staged = ModelStore(folder / "store")
    (folder / "store").mkdir(exist_ok=True)
    previous_tmp = tempfile.tempdir
    tempfile.tempdir = str(folder)  # BentoML's own bentoml-model-* scratch folder too
    try:
        with BentoMLContainer.model_store.patch(staged):
            yield staged
    finally:
        tempfile.tempdir = previous_tmp


# --- what is in the store ---


@dataclass(frozen=True)
class StoredModel:
    """One folder of the store: its tag, and what is wrong with it (None when intact)."""

    tag: str
    info: Any  # bentoml ModelInfo, None when model.yaml is unreadable
    problem: str | None


def scan(name: str, *, check: bool = True) -> list[StoredModel]:
    """Every model folder of ``name``: a damaged entry is named, never fatal. With ``check``,
    each is also hashed against its card (which reads every file of every model)."""
    from bentoml._internal.models.model import Model

    folder = _models_dir() / name
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(p for p in folder.iterdir() if p.is_dir()):
        tag = f"{name}:{entry.name}"
        try:
            info = Model.from_path(str(entry)).info
        except Exception as exc:  # whatever stops BentoML reading it is damage to report
            found.append(StoredModel(tag, None, f"incomplete: {exc}"))
            continue
        problem = _problem(tag, entry) if check else None
        found.append(StoredModel(tag, info, problem))
    return found


def _problem(tag: str, folder: Path) -> str | None:
    try:
        _check(tag, folder)
    except MleError as exc:
        return str(exc)
    return None


def first_intact(candidates: list[StoredModel]) -> str | None:
    """The tag of the first of ``candidates`` whose files match its card, if any."""
    folders = _models_dir()
    for stored in candidates:
        name, version = stored.tag.split(":", 1)
        if _problem(stored.tag, folders / name / version) is None:
            return stored.tag
    return None
