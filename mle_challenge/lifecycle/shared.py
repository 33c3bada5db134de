"""Where the production alias and its history live: one :class:`AliasStore` with two
implementations, beside the local BentoML store or in the shared registry on S3
(``MLE_REGISTRY=s3://bucket/prefix``), so that promotion, rollback and history are written
once (:mod:`.production`) over either.

Layout of the shared registry under its prefix::

    models/<name>/<version>.tar.gz, .json    each registered model, pushed verified and signed
    aliases/<name>/production.json           the alias and its whole history, in one signed object

The alias and its history share one object so that one write changes both, and one HMAC-SHA256
signature under ``MLE_SIGNING_KEY`` (the key that signs the manifests) covers both: whoever can
write to the bucket but has not the key cannot name another model, nor rewrite the history.
An object whose signature does not verify is refused, whole. Writes are conditional
(``If-Match`` the ETag read, or ``If-None-Match: *`` for the first), so of two promotions at
once exactly one wins and the other fails, changing nothing: S3 and SeaweedFS answer the loser
412 Precondition Failed. A model is pulled into the local store, and checked, the first time a
machine needs it.

The local store keeps ``production.json`` and an append-only ``history.jsonl`` under an
exclusive ``flock``; it is not signed, since whoever can write it can write the models and
their cards beside it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mle_challenge.errors import MleError
from mle_challenge.lifecycle.store import (
    hmac_signature,
    json_loads,
    signed_by,
    signing_key,
    state_dir,
    write_json_atomic,
)

# remote (fsspec, pyarrow through data.sources) is imported where a transfer happens: the
# service imports this module, and its bento carries neither.

ALIAS = "production"


class RegistryUnreachable(MleError):
    """The shared registry cannot be read or written; nothing was changed."""


class ConflictError(MleError):
    """Another promotion changed, or is changing, the alias: the message says which."""


class UntrustedAlias(MleError):
    """The alias object is not signed with our key, or names what must not be served."""


@dataclass(frozen=True)
class State:
    """The alias (or None before the first promotion), the history, oldest first, and the
    ETag it was read with (None when it does not exist yet, and for the local store)."""

    alias: dict[str, Any] | None
    history: list[dict[str, Any]]
    etag: str | None = None


Update = Callable[[State], State | None]


class AliasStore(ABC):
    """The production alias and history of one registered name."""

    def __init__(self, name: str) -> None:
        from mle_challenge.config import check_model_name

        # Checked: the name becomes a folder or a key, and one name's alias must never be
        # another's.
        self.name = check_model_name(name)

    @abstractmethod
    def read(self) -> State:
        """The alias and its history as they are now (checked, where they are signed)."""

    @abstractmethod
    def update(self, change: Update) -> State:
        """Apply ``change`` (state now → new state, or None for no change) as one step, and
        return the state after it. :class:`ConflictError` when another change got in first;
        then nothing was changed. The new history must extend the old one."""


def alias_store(name: str) -> AliasStore:
    """The store of ``name``'s alias: the shared registry when ``MLE_REGISTRY`` is set."""
    prefix = registry_url()
    return LocalAliasStore(name) if prefix is None else S3AliasStore(name, prefix)


# --- beside the local store ---


class LocalAliasStore(AliasStore):
    """``$BENTOML_HOME/mle_challenge/aliases/<name>/``: the alias written atomically, the
    history appended and fsynced, both under an exclusive lock that a second writer does not
    wait for (it fails, changing nothing)."""

    @property
    def folder(self) -> Path:
        return state_dir() / "aliases" / self.name

    def read(self) -> State:
        path = self.folder / f"{ALIAS}.json"
        alias = _local_json(path) if path.is_file() else None
        if alias is not None and not isinstance(alias, dict):
            raise UntrustedAlias(f"{path} is not an alias (a JSON object): {_local_fix()}")
        return State(alias, self._history())

    def _history(self) -> list[dict[str, Any]]:
        path = self.folder / "history.jsonl"
        if not path.is_file():
            return []
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        events = [_local_json(path, line) for line in lines]
        if not all(isinstance(e, dict) for e in events):
            raise UntrustedAlias(f"{path} holds a line that is not an event: {_local_fix()}")
        return events

    def update(self, change: Update) -> State:
        with self._exclusive():
            current = self.read()
            after = change(current)
            if after is None:
                return current
            added = _added(current, after)
            if after.alias != current.alias and after.alias is not None:
                write_json_atomic(self.folder / f"{ALIAS}.json", after.alias)
            with (self.folder / "history.jsonl").open("a") as log:
                log.writelines(json.dumps(event, sort_keys=True) + "\n" for event in added)
                log.flush()
                os.fsync(log.fileno())
            return after

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ConflictError(
                    f"another promotion or rollback of {self.name} is in progress; nothing "
                    "was changed. Try again when it has finished."
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _local_json(path: Path, text: str | None = None) -> Any:
    try:
        return json_loads(path.read_text() if text is None else text)
    except ValueError as exc:
        raise UntrustedAlias(f"{path} is not valid JSON ({exc}): {_local_fix()}") from exc


def _local_fix() -> str:
    return "restore it from a backup, or delete the alias folder to start a new history"


def _added(before: State, after: State) -> list[dict[str, Any]]:
    """The events ``after`` appends to ``before``'s history (which it must keep as it is)."""
    if after.history[: len(before.history)] != before.history:
        raise ValueError("the history is append-only: a change must keep every earlier event")
    return after.history[len(before.history) :]


# --- in the shared registry ---


def _signed_part(alias: dict[str, Any] | None, history: list[dict[str, Any]]) -> bytes:
    return json.dumps({"alias": alias, "history": history}, sort_keys=True).encode()


class S3AliasStore(AliasStore):
    """``<prefix>/aliases/<name>/production.json``: the alias and its history in one object,
    signed, written conditionally on the ETag it was read with."""

    def __init__(self, name: str, prefix: str) -> None:
        super().__init__(name)
        if not prefix.startswith("s3://"):
            raise RegistryUnreachable(
                f"MLE_REGISTRY={prefix} is not an s3:// URL: use s3://bucket/prefix (with "
                "AWS_ENDPOINT_URL for an S3-compatible store)."
            )
        self.prefix = prefix
        bucket, _, key = prefix.removeprefix("s3://").partition("/")
        parts = (key, "aliases", self.name, f"{ALIAS}.json")
        self.bucket, self.key = bucket, "/".join(p for p in parts if p)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> State:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = s3_client().get_object(Bucket=self.bucket, Key=self.key)
            body = found["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return State(alias=None, history=[], etag=None)
            raise _unreachable(self.prefix, exc) from exc
        except BotoCoreError as exc:
            raise _unreachable(self.prefix, exc) from exc
        return replace(self._checked(body), etag=found["ETag"])

    def _checked(self, body: bytes) -> State:
        """The state in ``body`` once its signature verifies; :class:`UntrustedAlias` else."""
        try:
            raw = json_loads(body)
            alias, history = raw.get("alias"), list(raw["history"])
            if not (alias is None or isinstance(alias, dict)):
                raise TypeError("its alias is not an object")
            if not all(isinstance(event, dict) for event in history):
                raise TypeError("its history holds something other than events")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UntrustedAlias(
                f"the shared alias {self.url} is not an alias object ({exc}): {_shared_fix()}"
            ) from exc
        key = signing_key()
        if key is None:
            raise UntrustedAlias(
                f"the shared alias {self.url} cannot be checked without MLE_SIGNING_KEY: set it "
                "to the key the registry's models and alias are signed with."
            )
        signature = raw.get("signature")
        if not isinstance(signature, str):
            raise UntrustedAlias(
                f"the shared alias {self.url} is not signed: it was written without "
                f"MLE_SIGNING_KEY, so nothing vouches for it. Refusing it: {_shared_fix()}"
            )
        if not signed_by(signature, _signed_part(alias, history), key):
            raise UntrustedAlias(
                f"the shared alias {self.url} is not signed with this MLE_SIGNING_KEY: it was "
                f"changed by someone without the key, or signed with another. Refusing it: "
                f"{_shared_fix()}"
            )
        return State(alias, history)

    def update(self, change: Update) -> State:
        current = self.read()
        after = change(current)
        if after is None:
            return current
        _added(current, after)
        self._write(after, current.etag)
        return after

    def _write(self, state: State, etag: str | None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = signing_key()
        if key is None:
            raise UntrustedAlias(
                "changing the shared alias needs MLE_SIGNING_KEY, the key that signs it and the "
                "registry's manifests (`openssl rand -hex 32`); nothing was changed."
            )
        signature = hmac_signature(_signed_part(state.alias, state.history), key)
        body = {"alias": state.alias, "history": state.history, "signature": signature}
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            s3_client().put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=json.dumps(body, indent=1).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise ConflictError(self._lost_race()) from exc
            raise _unreachable(self.prefix, exc) from exc
        except BotoCoreError as exc:
            raise _unreachable(self.prefix, exc) from exc

    def _lost_race(self) -> str:
        try:
            now = (self.read().alias or {}).get("tag") or "unset"
        except MleError:
            now = "unreadable"
        return (
            f"another promotion or rollback of {self.name} won the race (production is now "
            f"{now}); this one changed nothing. See `mle-challenge models history`, then try "
            "again if it is still wanted."
        )


def _shared_fix() -> str:
    return (
        "production stays as it was. Restore the object from the bucket's versions, or "
        "delete it to start a new signed history."
    )


def registry_url() -> str | None:
    """``MLE_REGISTRY`` (None: the local store is the registry)."""
    from mle_challenge.config import get_settings

    url = get_settings().registry
    return url.rstrip("/") if url else None


def archive_url(tag: str, prefix: str) -> str:
    name, version = tag.split(":", 1)
    return f"{prefix}/models/{name}/{version}.tar.gz"


def push_registered(tag: str) -> str | None:
    """Push a newly registered model to the shared registry; None without one."""
    prefix = registry_url()
    if prefix is None:
        return None
    from mle_challenge.lifecycle.remote import push_model

    return push_model(tag, f"{prefix}/models")


def is_published(tag: str) -> bool:
    """Whether the shared registry holds ``tag`` (False without a shared registry)."""
    prefix = registry_url()
    if prefix is None:
        return False
    from mle_challenge.lifecycle.remote import manifest_exists

    return manifest_exists(archive_url(tag, prefix))


def ensure_local(tag: str) -> str:
    """``tag`` in the local store, pulled from the shared registry (and verified) if missing."""
    import bentoml
    from bentoml.exceptions import NotFound

    prefix = registry_url()
    try:
        bentoml.models.get(tag)
        return tag
    except NotFound:
        if prefix is None:
            raise
    from mle_challenge.lifecycle.remote import pull_model

    return pull_model(archive_url(tag, prefix))


def s3_client() -> Any:
    """A boto3 S3 client for AWS_ENDPOINT_URL (path-style, short timeouts, 3 tries)."""
    import boto3
    from botocore.config import Config

    from mle_challenge.config import get_settings

    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client("s3", endpoint_url=get_settings().s3_endpoint_url, config=config)


def _unreachable(prefix: str, exc: Exception) -> RegistryUnreachable:
    reason = str(exc).strip() or type(exc).__name__
    return RegistryUnreachable(
        f"cannot reach the shared registry {prefix}: {reason}. Check AWS_ENDPOINT_URL, the "
        "credentials and that the bucket exists; nothing was changed."
    )
