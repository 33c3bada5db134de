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
import hmac
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


def stored_names() -> list[str]:
    """The names that have a folder of models in the store."""
    folder = _models_dir()
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def json_loads(raw: str | bytes) -> Any:
    """``json.loads`` whose every failure is a ValueError, a nesting too deep for the parser
    (``[`` × 100,000 raises RecursionError) included, so callers that turn a ValueError into
    one clear line cover it too."""
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise ValueError("its JSON is nested too deeply to read") from exc


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


# --- the signing key ---


def signing_key() -> bytes | None:
    """``MLE_SIGNING_KEY``: the shared secret of manifests, seals and the shared alias."""
    from mle_challenge.config import get_settings

    key = get_settings().signing_key
    return key.get_secret_value().encode() if key is not None else None


def hmac_signature(data: bytes, key: bytes) -> str:
    """The HMAC-SHA256 signature of ``data`` under ``key``, as everything signed records it."""
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()


def signed_by(signature: Any, data: bytes, key: bytes) -> bool:
    """Whether ``signature`` is ``data``'s under ``key`` (in constant time)."""
    return isinstance(signature, str) and hmac.compare_digest(signature, hmac_signature(data, key))


# --- content hashes ---

_LEGACY = "sha256:"  # 0.1.0 cards: every file of the folder, model.yaml included
_ARTIFACTS = "artifacts-sha256:"  # earlier cards: of model.yaml, the predictive keys only
_PREFIX = "model-sha256:"
_METADATA_FILE = "model.yaml"
# A signed statement of the content hash, beside the files it covers, so that a model moved
# with BentoML's own `bentoml models export` / `import` can be checked where it arrives.
SEAL_FILE = "mle_seal.json"

# What in model.yaml changes how a model loads, predicts or validates its input...
_PREDICTIVE_KEYS = ("module", "api_version", "signatures", "options", "context")
_PREDICTIVE_METADATA = ("categories", "classes", "feature_schema")
# ... and, since ``model-sha256:``, what `models list` and `/model` show or the service uses
# (the city's price edges, neighbourhoods and example request, the area it accepts). The rest
# is lineage that differs between two saves of one model: version, creation and code version.
_SHOWN_METADATA = ("metrics", "validation_metrics", "params", "data_fingerprint", "area", "city")
_SHOWN_LABELS = ("candidate",)


def content_hash(folder: Path) -> str:
    """sha256 over what predicts and what is shown: every file of a model folder (relative
    path, size, bytes) except ``model.yaml`` and the seal, and of ``model.yaml`` what changes
    how the model loads and answers and what is displayed of it. Two saves of the same
    fitted model have the same hash."""
    return _PREFIX + _yaml_digest(folder, shown=True)


def _yaml_digest(folder: Path, *, shown: bool) -> str:
    import yaml

    digest = hashlib.sha256(_digest(folder, skip={_METADATA_FILE, SEAL_FILE}).encode())
    try:
        info = yaml.safe_load((folder / _METADATA_FILE).read_text()) or {}
    except (OSError, yaml.YAMLError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise IntegrityError(f"{folder / _METADATA_FILE} is unreadable: {reason}") from exc
    if not isinstance(info, dict):
        raise IntegrityError(f"{folder / _METADATA_FILE} is not a BentoML model.yaml")
    metadata = info.get("metadata") or {}
    labels = info.get("labels") or {}
    keys = _PREDICTIVE_METADATA + (_SHOWN_METADATA if shown else ())
    covered = {k: info.get(k) for k in _PREDICTIVE_KEYS} | {
        f"metadata.{k}": metadata.get(k) for k in keys
    }
    if shown:
        covered |= {f"labels.{k}": labels.get(k) for k in _SHOWN_LABELS}
    digest.update(json.dumps(covered, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def covers_metadata(recorded: str) -> bool:
    """Whether a recorded hash vouches for what is shown of a model (its metrics, candidate
    and city), not only for what predicts: ``artifacts-sha256:`` hashes do not."""
    return not recorded.startswith(_ARTIFACTS)


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
    if recorded.startswith(_ARTIFACTS):
        return recorded == _ARTIFACTS + _yaml_digest(folder, shown=False)
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
        return dict(json_loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
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


# --- seals: a model moved by BentoML's own tools ---


def _seal_part(tag: str, recorded: str) -> bytes:
    return json.dumps({"tag": tag, "content_hash": recorded}, sort_keys=True).encode()


def _seal(folder: Path, tag: str, recorded: str) -> None:
    """Write the signed seal of ``tag`` into its folder when ``MLE_SIGNING_KEY`` is set."""
    key = signing_key()
    if key is None:
        return
    signature = hmac_signature(_seal_part(tag, recorded), key)
    seal = {"tag": tag, "content_hash": recorded, "signature": signature}
    (folder / SEAL_FILE).write_text(json.dumps(seal, indent=2, sort_keys=True))


@dataclass(frozen=True)
class Accepted:
    """A model recorded by :func:`accept`: its content hash, and whether a seal signed with
    our key vouched for it (else the user did, with ``trust``)."""

    tag: str
    content_hash: str
    signed: bool


def accept(tag: str, *, trust: bool = False, user: str = "unknown") -> Accepted:
    """Record a model that arrived without a card (``bentoml models import``): checked
    against its signed seal when it has one, else only when the user vouches (``trust``).

    A model with a card is never re-recorded: one whose files no longer match is refused.
    """
    folder = model_path(tag)
    recorded = read_card(tag).get("content_hash")
    if recorded is not None:
        _check(tag, folder)
        return Accepted(tag, recorded, bool(read_card(tag).get("signed")))
    found = content_hash(folder)
    signed = _seal_vouches(tag, folder, trust)
    if not signed and not trust:
        raise IntegrityError(
            f"model {tag} has no seal signed with MLE_SIGNING_KEY, so nothing vouches for its "
            "files: if you trust where it came from, accept it with `mle-challenge models "
            f"accept {tag} --trust`."
        )
    origin = "accepted: sealed" if signed else f"accepted: trusted by {user}"
    write_json_atomic(
        _card_path(tag), {"tag": tag, "origin": origin, "signed": signed, "content_hash": found}
    )
    return Accepted(tag, found, signed)


def _seal_vouches(tag: str, folder: Path, trust: bool) -> bool:
    """Whether ``folder`` holds a seal of ``tag``, signed with our key, that its files match;
    False without a seal (or without the key, when the user vouches); :class:`IntegrityError`
    for a seal that does not hold."""
    path = folder / SEAL_FILE
    if not path.is_file():
        return False
    try:
        seal = json_loads(path.read_text())
        recorded = str(seal["content_hash"])
        sealed_tag, signature = seal["tag"], seal["signature"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the seal of {tag} ({path}) is unreadable: {exc}") from exc
    key = signing_key()
    if key is None and trust:
        return False
    if key is None:
        raise IntegrityError(
            f"model {tag} has a signed seal: set MLE_SIGNING_KEY to the key it was registered "
            "with to check it, or pass --trust if you vouch for it without one."
        )
    if sealed_tag != tag or not signed_by(signature, _seal_part(sealed_tag, recorded), key):
        raise IntegrityError(
            f"the seal of {tag} is not signed with this MLE_SIGNING_KEY for this model: it was "
            "changed, or signed with another key. Refusing it."
        )
    if not matches(folder, recorded):
        raise IntegrityError(
            f"model {tag} does not match the content hash its seal records ({recorded}): its "
            "files changed after it was sealed. Refusing it."
        )
    return True


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
            "mle-challenge (`bentoml models import` brings no record), so nothing vouches for "
            f"its files. Check and record it with `mle-challenge models accept {tag}`, or pull "
            "it with `mle-challenge models pull`."
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
    recorded = content_hash(folder)
    _seal(folder, tag, recorded)
    write_json_atomic(_card_path(tag), {"tag": tag, **card, "content_hash": recorded})
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
