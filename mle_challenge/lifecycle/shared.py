"""The shared registry: models, the production alias and its history on S3, for several
machines (``MLE_REGISTRY=s3://bucket/prefix``).

Layout under the prefix::

    models/<name>/<version>.tar.gz, .json    each registered model, pushed verified and signed
    aliases/<name>/production.json           the alias and its whole history, in one object

The alias and its history share one object so that one write changes both. Writes are
conditional (``If-Match`` the ETag read, or ``If-None-Match: *`` for the first), so of two
promotions at once exactly one wins and the other fails, changing nothing: S3 and SeaweedFS
answer the loser 412 Precondition Failed. A model is pulled into the local store, and checked,
the first time a machine needs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mle_challenge.errors import MleError

# remote (fsspec, pyarrow through data.sources) is imported where a transfer happens: the
# service imports this module, and its bento carries neither.


class RegistryUnreachable(MleError):
    """The shared registry cannot be read or written; nothing was changed."""


class ConflictError(MleError):
    """Another machine changed the shared alias between our read and our write."""


@dataclass(frozen=True)
class State:
    """The shared alias object: the alias (or None before the first promotion), the history,
    and the ETag it was read with (None when it does not exist yet)."""

    alias: dict[str, Any] | None
    history: list[dict[str, Any]]
    etag: str | None


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


def _location(prefix: str, name: str) -> tuple[str, str]:
    if not prefix.startswith("s3://"):
        raise RegistryUnreachable(
            f"MLE_REGISTRY={prefix} is not an s3:// URL: use s3://bucket/prefix (with "
            "AWS_ENDPOINT_URL for an S3-compatible store)."
        )
    from mle_challenge.config import check_model_name

    bucket, _, key = prefix.removeprefix("s3://").partition("/")
    # Checked: the name becomes part of the key, and one name's alias must never be another's.
    parts = (key, "aliases", check_model_name(name), "production.json")
    return bucket, "/".join(p for p in parts if p)


def _unreachable(prefix: str, exc: Exception) -> RegistryUnreachable:
    reason = str(exc).strip() or type(exc).__name__
    return RegistryUnreachable(
        f"cannot reach the shared registry {prefix}: {reason}. Check AWS_ENDPOINT_URL, the "
        "credentials and that the bucket exists; nothing was changed."
    )


def read_state(name: str, prefix: str) -> State:
    """The shared alias object of ``name`` as it is now."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _location(prefix, name)
    try:
        found = s3_client().get_object(Bucket=bucket, Key=key)
        body = found["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return State(alias=None, history=[], etag=None)
        raise _unreachable(prefix, exc) from exc
    except BotoCoreError as exc:
        raise _unreachable(prefix, exc) from exc
    try:
        raw = json.loads(body)
        return State(alias=raw.get("alias"), history=list(raw["history"]), etag=found["ETag"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryUnreachable(
            f"the shared alias s3://{bucket}/{key} is not an alias object ({exc}): restore it "
            "from the bucket's versions, or delete it to start a new history."
        ) from exc


def write_state(name: str, prefix: str, state: State) -> None:
    """Replace the alias object if nobody changed it since ``state`` was read; else
    :class:`ConflictError`."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _location(prefix, name)
    condition = {"IfMatch": state.etag} if state.etag else {"IfNoneMatch": "*"}
    body = json.dumps({"alias": state.alias, "history": state.history}, indent=1).encode()
    try:
        s3_client().put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise ConflictError(f"the production alias of {name} changed meanwhile") from exc
        raise _unreachable(prefix, exc) from exc
    except BotoCoreError as exc:
        raise _unreachable(prefix, exc) from exc
