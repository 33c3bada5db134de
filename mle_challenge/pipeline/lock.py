"""One training run per outputs folder on a machine.

Two runs with Luigi's local scheduler on one folder race for the same stage files: the second
met ``FileAlreadyExists`` and left a ``-luigi-tmp-`` file behind. A run therefore holds an
exclusive lock (``flock``) on ``<outputs>/train.lock`` (in the local mirror of shared outputs)
and a second one stops at once with one line. Runs through a central scheduler (luigid) take
no lock: luigid hands each task to one worker, so several workers may share the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from mle_challenge.errors import MleError
from mle_challenge.lifecycle.outputs import Outputs

LOCK_FILE = "train.lock"


class OutputsBusy(MleError):
    """Another training run holds the outputs folder's lock."""


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[str | None]:
    """Hold an exclusive lock on ``path``: yields None when held here, else who holds it
    ("pid N"). The lock goes with the process, so a killed holder never leaves it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            yield f"pid {handle.read().strip() or '?'}"
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def outputs_lock(outputs: str) -> Iterator[Path]:
    """Hold the outputs folder's training lock; raise :class:`OutputsBusy` if another run
    holds it."""
    path = Outputs(outputs).local / LOCK_FILE
    with exclusive(path) as holder:
        if holder is not None:
            raise OutputsBusy(
                f"another run is using {outputs} ({holder}): wait for it to finish, or "
                "give this one another --outputs"
            )
        yield path
