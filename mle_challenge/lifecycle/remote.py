"""Move models and bentos between machines through S3 (or any fsspec URL).

A push writes two objects under ``<prefix>/<name>/``: ``<version>.tar.gz`` (BentoML's export)
and ``<version>.json``, a manifest with the archive's sha256 and the model's content hash,
signed with HMAC-SHA256 under the shared secret ``MLE_SIGNING_KEY``. A pull checks the
signature first (an unsigned or wrongly signed manifest is refused unless the caller allows
unsigned archives), then downloads the archive to a scratch folder, checks its sha256, checks
every member stays inside its folder (no absolute paths, ``..``, links or devices), extracts
it, checks the content hash, and only then moves the model into the store. Any failure leaves
the local store as it was. A gate result is never taken from a remote: a pulled model is
"not gated here" until ``mle-challenge gate`` runs on it. S3-compatible stores are reached
through ``AWS_ENDPOINT_URL`` and the usual AWS credential variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mle_challenge.data.sources import filesystem
from mle_challenge.errors import MleError, RegistryError
from mle_challenge.lifecycle.registry import resolve_tag
from mle_challenge.lifecycle.store import (
    hmac_signature,
    json_loads,
    matches,
    publish,
    read_card,
    signed_by,
    signing_key,
    staging,
    verified,
)


class TransferError(MleError):
    """A push or pull failed, or what was pulled does not match what was pushed."""


class Manifest(BaseModel):
    """What a push records beside its archive; everything a pull checks before it imports."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["model", "bento"]
    tag: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*:[a-z0-9_.-]+$")
    archive: str
    archive_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    pushed_at: str
    content_hash: str | None = None
    signature: str | None = None

    def signed_part(self) -> bytes:
        return json.dumps(self.model_dump(exclude={"signature"}), sort_keys=True).encode()


def _signature(manifest: Manifest, key: bytes) -> str:
    return hmac_signature(manifest.signed_part(), key)


def check_signature(manifest: Manifest, url: str, *, allow_unsigned: bool) -> bool:
    """Whether ``manifest`` is signed with our key; raises unless it is or unsigned archives
    are allowed. A wrong signature is refused either way."""
    key = signing_key()
    if manifest.signature is None or key is None:
        if allow_unsigned:
            return False
        missing = "has no signature" if manifest.signature is None else "is signed"
        fix = (
            "push it again with MLE_SIGNING_KEY set"
            if manifest.signature is None
            else "set MLE_SIGNING_KEY to the key it was pushed with"
        )
        raise TransferError(
            f"the manifest of {url} {missing}, and unsigned archives are not trusted: {fix}, "
            "or pass --allow-unsigned if you trust where it came from."
        )
    if not signed_by(manifest.signature, manifest.signed_part(), key):
        raise TransferError(
            f"the manifest of {url} is not signed with this MLE_SIGNING_KEY: it was changed "
            "after it was pushed, or pushed with another key. Refusing it."
        )
    return True


def _remote_error(action: str, url: str, exc: Exception) -> TransferError:
    hint = "check the bucket, AWS_ENDPOINT_URL and the AWS credentials"
    if isinstance(exc, PermissionError):
        hint = "the credentials were refused: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif isinstance(exc, FileNotFoundError):
        hint = "nothing is there: check the URL (push prints it as its last line)"
    reason = str(exc).strip() or type(exc).__name__
    return TransferError(f"cannot {action} {url}: {reason}; {hint}.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def _upload(local: Path, url: str) -> None:
    fs, path = filesystem(url)
    try:
        fs.put_file(str(local), path)
    except Exception as exc:
        raise _remote_error("write", url, exc) from exc


def _download(url: str, local: Path) -> None:
    fs, path = filesystem(url)
    try:
        fs.get_file(path, str(local))
    except Exception as exc:
        raise _remote_error("read", url, exc) from exc


def _read_json(url: str) -> dict[str, Any] | None:
    fs, path = filesystem(url)
    try:
        if not fs.exists(path):
            return None
        raw = fs.cat_file(path)
    except Exception as exc:
        raise _remote_error("read", url, exc) from exc
    try:
        found = json_loads(raw)
    except ValueError as exc:
        raise TransferError(f"{url} is not valid JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise TransferError(f"{url} is not a manifest (a JSON object)")
    return found


def safe_extract(archive: Path, into: Path) -> None:
    """Extract a tar archive, refusing any member that would land outside ``into``."""
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise TransferError(
                        f"archive {archive.name} has a member outside its folder: {member.name}"
                    )
                if not (member.isfile() or member.isdir()):
                    raise TransferError(
                        f"archive {archive.name} has a link or device: {member.name}"
                    )
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")
            else:
                # Python before 3.11.4 has no extraction filters, and Debian bookworm's 3.11.2
                # is the interpreter of the images built on mle-challenge-base. The checks
                # above refuse what "data" would; what it would also change is done here.
                for member in tar.getmembers():
                    member.mode &= 0o755  # no setuid, setgid, sticky or world-writable bits
                    member.uid, member.gid = os.getuid(), os.getgid()
                    member.uname = member.gname = ""
                tar.extractall(into)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(":")
        raise TransferError(f"archive {archive.name} is damaged or not a tar.gz: {reason}") from exc


def _archive_root(folder: Path) -> Path:
    """The folder holding ``model.yaml`` / ``bento.yaml`` inside an extracted export."""
    for marker in ("model.yaml", "bento.yaml"):
        found = sorted(folder.rglob(marker), key=lambda p: len(p.parts))
        if found:
            return found[0].parent
    raise TransferError("the archive holds neither a BentoML model nor a bento")


# --- shared by models and bentos ---


def _already_pushed(archive_url: str, facts: dict[str, Any], allow_unsigned: bool) -> bool:
    """Whether an equal push, signed as a new one would be, is there already."""
    raw = _read_json(_manifest_url(archive_url))
    if raw is None or any(raw.get(k) != v for k, v in facts.items()):
        return False
    try:
        signed = check_signature(
            Manifest.model_validate(raw), archive_url, allow_unsigned=allow_unsigned
        )
    except (ValidationError, TransferError):
        return False
    if signing_key() is not None and not signed:
        return False  # sign it now
    return _remote_sha256(archive_url) == raw.get("archive_sha256")


def _remote_sha256(url: str) -> str | None:
    """The sha256 of the object at ``url``, read in blocks; None when it is missing. A
    manifest alone does not prove its archive is whole: a promotion names only what this
    proves (a damaged archive is pushed again)."""
    fs, path = filesystem(url)
    digest = hashlib.sha256()
    try:
        if not fs.exists(path):
            return None
        with fs.open(path, "rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _remote_error("read", url, exc) from exc
    return digest.hexdigest()


def _push(
    kind: str,
    tag: str,
    folder: str,
    export: Callable[[str, str], Any],
    facts: dict[str, Any],
    allow_unsigned: bool,
) -> str:
    """Upload ``tag``'s export and then its manifest; skip when an equal push is there."""
    version = tag.split(":")[1]
    archive_url = _join(folder, f"{version}.tar.gz")
    if _already_pushed(archive_url, facts, allow_unsigned):
        return archive_url
    with tempfile.TemporaryDirectory(prefix="mle-push-") as scratch:
        archive = Path(scratch) / f"{version}.tar.gz"
        export(tag, str(archive))
        manifest = Manifest(
            kind=kind,
            tag=tag,
            archive=archive_url,
            archive_sha256=_sha256(archive),
            pushed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            **facts,
        )
        key = signing_key()
        if key is not None:
            manifest.signature = _signature(manifest, key)
        elif not allow_unsigned:
            raise TransferError(
                "pushing needs MLE_SIGNING_KEY, the shared secret that signs the manifest so "
                "that a pull can trust it (`openssl rand -hex 32`); or pass --allow-unsigned."
            )
        manifest_file = Path(scratch) / "manifest.json"
        manifest_file.write_text(manifest.model_dump_json(indent=2))
        _upload(archive, archive_url)
        _upload(manifest_file, _manifest_url(archive_url))  # last: a manifest means complete
    return archive_url


def _manifest(
    archive_url: str, kind: str, command: str, allow_unsigned: bool
) -> tuple[Manifest, bool]:
    """The checked manifest beside ``archive_url``, and whether it is signed with our key."""
    raw = _read_json(_manifest_url(archive_url))
    if raw is None or raw.get("kind") != kind:
        raise TransferError(
            f"no {kind} manifest beside {archive_url}: was it pushed by `{command}`?"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TransferError(f"the manifest of {archive_url} is malformed: {problems}") from exc
    if manifest.archive != archive_url:
        raise TransferError(
            f"the manifest beside {archive_url} describes {manifest.archive}: refusing it."
        )
    return manifest, check_signature(manifest, archive_url, allow_unsigned=allow_unsigned)


def _fetch(archive_url: str, manifest: Manifest, scratch: Path) -> tuple[Path, Path]:
    """Download, check the sha256 and every member's path, extract: (archive, its root)."""
    archive = scratch / "archive.tar.gz"
    _download(archive_url, archive)
    if _sha256(archive) != manifest.archive_sha256:
        raise TransferError(f"{archive_url} does not match the sha256 its manifest records")
    extracted = scratch / "extracted"
    safe_extract(archive, extracted)
    return archive, _archive_root(extracted)


# --- models ---


def push_model(tag: str | None, prefix: str, *, allow_unsigned: bool = False) -> str:
    """Export ``tag`` to ``prefix``; returns the archive URL. Pushing again changes nothing."""
    import bentoml

    exact = verified(resolve_tag(tag))
    card = read_card(exact)
    facts = {"content_hash": card["content_hash"]}  # a gate result stays where it was run

    def export(tag: str, path: str) -> Any:
        return bentoml.models.export_model(tag, path, output_format="gz")

    return _push("model", exact, _join(prefix, exact.split(":")[0]), export, facts, allow_unsigned)


def manifest_exists(archive_url: str) -> bool:
    """Whether the archive at ``archive_url`` has been pushed (its manifest, written last)."""
    fs, path = filesystem(_manifest_url(archive_url))
    try:
        return bool(fs.exists(path))
    except Exception as exc:
        raise _remote_error("read", archive_url, exc) from exc


def _manifest_url(archive_url: str) -> str:
    if not archive_url.endswith(".tar.gz"):
        raise TransferError(f"{archive_url} is not an archive URL printed by push (*.tar.gz)")
    return archive_url.removesuffix(".tar.gz") + ".json"


def pull_model(archive_url: str, *, allow_unsigned: bool = False) -> str:
    """Bring a pushed model back into the local store, verified; returns its tag.

    The model is extracted and checked in a staging folder and moved into the store whole
    (:func:`~mle_challenge.lifecycle.store.publish`), so a failure at any point leaves the
    store as it was.
    """
    import bentoml
    from bentoml.exceptions import NotFound

    manifest, signed = _manifest(archive_url, "model", "models push", allow_unsigned)
    tag = manifest.tag
    try:
        bentoml.models.get(tag)
        verified(tag)
        return tag  # already here, and intact
    except NotFound:
        pass
    with staging() as scratch:
        _, root = _fetch(archive_url, manifest, scratch)
        if manifest.content_hash is None or not matches(root, manifest.content_hash):
            raise TransferError(
                f"{archive_url} holds a model whose files do not match the content hash its "
                f"manifest records ({manifest.content_hash}): refusing to import it."
            )
        inside = _model_tag(root)
        if inside != tag:
            raise TransferError(
                f"{archive_url} holds model {inside}, not {tag} as its manifest says"
            )
        try:
            publish(root, tag, origin=archive_url, signed=signed)
        except (RegistryError, OSError):
            # Another process (a second service worker, say) pulled it meanwhile: use that
            # copy if it is intact, else say what is wrong.
            verified(tag)
    return tag


def _model_tag(root: Path) -> str:
    import yaml

    try:
        info = yaml.safe_load((root / "model.yaml").read_text())
        return f"{info['name']}:{info['version']}"
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise TransferError(f"the archive's model.yaml is unreadable: {exc}") from exc


# --- bentos ---


def push_bento(tag: str | None, prefix: str, *, allow_unsigned: bool = False) -> str:
    """Export bento ``tag`` (with its models) to ``prefix``; returns the archive URL."""
    import bentoml

    from mle_challenge.lifecycle.registry import resolve_bento

    exact = resolve_bento(tag)

    def export(tag: str, path: str) -> Any:
        return bentoml.bentos.export_bento(tag, path, output_format="gz")

    folder = _join(prefix, "bentos", exact.split(":")[0])
    return _push("bento", exact, folder, export, {}, allow_unsigned)


def pull_bento(archive_url: str, *, allow_unsigned: bool = False) -> str:
    """Bring a pushed bento back into the local store, after checking its archive."""
    import bentoml
    from bentoml.exceptions import NotFound

    manifest, _ = _manifest(archive_url, "bento", "bento push", allow_unsigned)
    tag = manifest.tag
    try:
        bentoml.bentos.get(tag)
        return tag
    except NotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="mle-pull-") as scratch:
        archive, _ = _fetch(archive_url, manifest, Path(scratch))
        try:
            bentoml.bentos.import_bento(str(archive))
        except Exception as exc:
            with contextlib.suppress(NotFound):
                bentoml.bentos.delete(tag)
            raise TransferError(f"importing {tag} failed: {exc}") from exc
    return tag
