"""Move models and bentos between machines through S3 (or any fsspec URL).

A push writes two objects under ``<prefix>/<name>/``: ``<version>.tar.gz`` (BentoML's export)
and ``<version>.json``, a manifest with the archive's sha256, the model's content hash and its
gate result. A pull downloads both to a scratch folder, checks the archive's sha256, checks
every member stays inside its folder (no absolute paths, ``..``, links or devices), extracts
it and checks the content hash, and only then imports it into the store. Any failure leaves
the local store as it was. S3-compatible stores are reached through ``AWS_ENDPOINT_URL`` and
the usual AWS credential variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from mle_challenge.data.sources import storage_options
from mle_challenge.errors import MleError, SourceError
from mle_challenge.lifecycle.production import content_hash, read_card, update_card, verified
from mle_challenge.lifecycle.registry import resolve_tag


class TransferError(MleError):
    """A push or pull failed, or what was pulled does not match what was pushed."""


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options(url) or {}))
    except (ImportError, ValueError) as exc:
        raise SourceError(f"cannot use {url}: {exc}") from exc
    return fs, path


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
    fs, path = _filesystem(url)
    try:
        fs.put_file(str(local), path)
    except Exception as exc:
        raise _remote_error("write", url, exc) from exc


def _download(url: str, local: Path) -> None:
    fs, path = _filesystem(url)
    try:
        fs.get_file(path, str(local))
    except Exception as exc:
        raise _remote_error("read", url, exc) from exc


def _read_json(url: str) -> dict[str, Any] | None:
    fs, path = _filesystem(url)
    try:
        if not fs.exists(path):
            return None
        return dict(json.loads(fs.cat_file(path)))
    except Exception as exc:
        raise _remote_error("read", url, exc) from exc


def safe_extract(archive: Path, into: Path) -> None:
    """Extract a tar archive, refusing any member that would land outside ``into``."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise TransferError(
                    f"archive {archive.name} has a member outside its folder: {member.name}"
                )
            if not (member.isfile() or member.isdir()):
                raise TransferError(f"archive {archive.name} has a link or device: {member.name}")
        tar.extractall(into, filter="data")


def _archive_root(folder: Path) -> Path:
    """The folder holding ``model.yaml`` / ``bento.yaml`` inside an extracted export."""
    for marker in ("model.yaml", "bento.yaml"):
        found = sorted(folder.rglob(marker), key=lambda p: len(p.parts))
        if found:
            return found[0].parent
    raise TransferError("the archive holds neither a BentoML model nor a bento")


# --- shared by models and bentos ---


def _push(
    kind: str, tag: str, folder: str, export: Callable[[str, str], Any], facts: dict[str, Any]
) -> str:
    """Upload ``tag``'s export and then its manifest; skip when an equal push is there."""
    version = tag.split(":")[1]
    archive_url = _join(folder, f"{version}.tar.gz")
    existing = _read_json(_manifest_url(archive_url))
    if existing is not None and all(existing.get(k) == v for k, v in facts.items()):
        fs, path = _filesystem(archive_url)
        if fs.exists(path):
            return archive_url
    with tempfile.TemporaryDirectory(prefix="mle-push-") as scratch:
        archive = Path(scratch) / f"{version}.tar.gz"
        export(tag, str(archive))
        manifest = {
            "kind": kind,
            "tag": tag,
            "archive": archive_url,
            "archive_sha256": _sha256(archive),
            "pushed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **facts,
        }
        manifest_file = Path(scratch) / "manifest.json"
        manifest_file.write_text(json.dumps(manifest, indent=2))
        _upload(archive, archive_url)
        _upload(manifest_file, _manifest_url(archive_url))  # last: a manifest means complete
    return archive_url


def _manifest(archive_url: str, kind: str, command: str) -> dict[str, Any]:
    manifest = _read_json(_manifest_url(archive_url))
    if manifest is None or manifest.get("kind") != kind:
        raise TransferError(
            f"no {kind} manifest beside {archive_url}: was it pushed by `{command}`?"
        )
    return manifest


def _fetch(archive_url: str, manifest: dict[str, Any], scratch: Path) -> tuple[Path, Path]:
    """Download, check the sha256 and every member's path, extract: (archive, its root)."""
    archive = scratch / "archive.tar.gz"
    _download(archive_url, archive)
    if _sha256(archive) != manifest["archive_sha256"]:
        raise TransferError(f"{archive_url} does not match the sha256 its manifest records")
    extracted = scratch / "extracted"
    safe_extract(archive, extracted)
    return archive, _archive_root(extracted)


# --- models ---


def push_model(tag: str | None, prefix: str) -> str:
    """Export ``tag`` to ``prefix``; returns the archive URL. Pushing again changes nothing."""
    import bentoml

    exact = verified(resolve_tag(tag))
    card = read_card(exact)
    facts = {"content_hash": card["content_hash"], "gate": card.get("gate")}

    def export(tag: str, path: str) -> Any:
        return bentoml.models.export_model(tag, path, output_format="gz")

    return _push("model", exact, _join(prefix, exact.split(":")[0]), export, facts)


def _manifest_url(archive_url: str) -> str:
    if not archive_url.endswith(".tar.gz"):
        raise TransferError(f"{archive_url} is not an archive URL printed by push (*.tar.gz)")
    return archive_url.removesuffix(".tar.gz") + ".json"


def pull_model(archive_url: str) -> str:
    """Bring a pushed model back into the local store, verified; returns its tag."""
    import bentoml
    from bentoml.exceptions import NotFound

    manifest = _manifest(archive_url, "model", "models push")
    tag = str(manifest["tag"])
    try:
        bentoml.models.get(tag)
        verified(tag)
        return tag  # already here, and intact
    except NotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="mle-pull-") as scratch:
        archive, root = _fetch(archive_url, manifest, Path(scratch))
        found = content_hash(root)
        if found != manifest["content_hash"]:
            raise TransferError(
                f"{archive_url} holds a model whose content hash {found} is not the recorded "
                f"{manifest['content_hash']}: refusing to import it."
            )
        try:
            imported = bentoml.models.import_model(str(archive))
        except Exception as exc:
            _forget(tag)
            raise TransferError(f"importing {tag} failed: {exc}") from exc
    if str(imported.tag) != tag or content_hash(Path(imported.path)) != manifest["content_hash"]:
        _forget(str(imported.tag))
        raise TransferError(f"the imported model does not match {tag}'s manifest")
    update_card(tag, content_hash=manifest["content_hash"], gate=manifest.get("gate"))
    return tag


def _forget(tag: str) -> None:
    import bentoml
    from bentoml.exceptions import NotFound

    with contextlib.suppress(NotFound):
        bentoml.models.delete(tag)


# --- bentos ---


def push_bento(tag: str | None, prefix: str) -> str:
    """Export bento ``tag`` (with its models) to ``prefix``; returns the archive URL."""
    import bentoml

    from mle_challenge.lifecycle.registry import resolve_bento

    exact = resolve_bento(tag)

    def export(tag: str, path: str) -> Any:
        return bentoml.bentos.export_bento(tag, path, output_format="gz")

    return _push("bento", exact, _join(prefix, "bentos", exact.split(":")[0]), export, {})


def pull_bento(archive_url: str) -> str:
    """Bring a pushed bento back into the local store, after checking its archive."""
    import bentoml
    from bentoml.exceptions import NotFound

    manifest = _manifest(archive_url, "bento", "bento push")
    tag = str(manifest["tag"])
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
