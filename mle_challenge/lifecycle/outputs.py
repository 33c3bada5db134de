"""Where the pipeline keeps its content-addressed outputs: a folder on this machine, or shared
on S3 (``--outputs s3://bucket/prefix``) by Luigi workers on several machines.

Every stage works in a local folder named by its fingerprint. With a shared root that folder
is a mirror under this machine's state directory, and a stage that has run publishes it:
every file is uploaded, the stage's output file last. That last object is the publication: a
stage is complete when its output file is in the bucket, so an upload cut off half-way leaves
nothing that looks complete, and the stage runs again. (Each S3 PUT is itself atomic: a
reader sees the whole object or none.) A stage that another machine ran is fetched into the
mirror the first time this machine reads it, through a temporary folder renamed into place.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mle_challenge.errors import MleError


class OutputsError(MleError):
    """The shared outputs cannot be read or written."""


@dataclass(frozen=True)
class Outputs:
    """The pipeline's outputs root, as given: a folder, or ``s3://bucket/prefix``."""

    root: str

    @property
    def shared(self) -> bool:
        return self.root.startswith("s3://")

    @property
    def local(self) -> Path:
        """The folder stages work in: the root itself, or this machine's mirror of the bucket."""
        if not self.shared:
            return Path(self.root)
        from mle_challenge.lifecycle.store import state_dir

        bucket, prefix = self._bucket_prefix()
        return state_dir() / "outputs" / bucket / prefix

    def exists(self, relative: str) -> bool:
        """Whether the file at ``relative`` (under the root) has been published."""
        if not self.shared:
            return (self.local / relative).exists()
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._key(relative)
        try:
            self._client().head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._unreachable(exc) from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc
        return True

    def fetch(self, folder: str, marker: str) -> Path:
        """The local copy of the published ``folder`` (relative), downloaded if missing."""
        local = self.local / folder
        if not self.shared or (local / marker).exists():
            return local
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = self._key(folder)
        local.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{local.name}-", dir=local.parent))
        try:
            client = self._client()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix + "/"
            )
            names = [o["Key"] for page in pages for o in page.get("Contents", [])]
            if prefix + "/" + marker not in names:
                raise OutputsError(
                    f"{self.root}/{folder} is not published (no {marker}): run the pipeline "
                    "again, it will make it."
                )
            for key in names:
                target = scratch / key.removeprefix(prefix + "/")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, key, str(target))
            # A folder this machine began and never published is replaced; a folder another
            # process of this machine fetched meanwhile is kept.
            if local.exists() and not (local / marker).exists():
                shutil.rmtree(local)
            try:
                scratch.rename(local)
            except OSError:
                if not (local / marker).exists():
                    raise
        except (BotoCoreError, ClientError) as exc:
            raise self._unreachable(exc) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return local

    def publish(self, folder: str, marker: str) -> None:
        """Upload the local ``folder`` (relative), ``marker`` last; nothing for a local root."""
        if not self.shared:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        local = self.local / folder
        bucket, prefix = self._key(folder)
        files = sorted(p for p in local.rglob("*") if p.is_file() and p.name != marker)
        try:
            client = self._client()
            for path in [*files, local / marker]:
                key = f"{prefix}/{path.relative_to(local).as_posix()}"
                client.upload_file(str(path), bucket, key)
        except (BotoCoreError, ClientError) as exc:
            raise self._unreachable(exc) from exc

    def check(self) -> None:
        """Fail now, with one clear error, when a shared root cannot be reached."""
        if not self.shared:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _ = self._bucket_prefix()
        try:
            self._client().head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unreachable(exc) from exc

    # --- helpers ---

    def _bucket_prefix(self) -> tuple[str, str]:
        bucket, _, prefix = self.root.removeprefix("s3://").partition("/")
        if not bucket:
            raise OutputsError(f"--outputs {self.root} names no bucket: use s3://bucket/prefix.")
        return bucket, prefix.strip("/")

    def _key(self, relative: str) -> tuple[str, str]:
        bucket, prefix = self._bucket_prefix()
        return bucket, "/".join(p for p in (prefix, relative.strip("/")) if p)

    def _client(self) -> Any:
        from mle_challenge.lifecycle.shared import s3_client

        return s3_client()

    def _unreachable(self, exc: Exception) -> OutputsError:
        reason = str(exc).strip() or type(exc).__name__
        return OutputsError(
            f"cannot use the shared outputs {self.root}: {reason}. Check AWS_ENDPOINT_URL, the "
            "credentials and that the bucket exists."
        )
