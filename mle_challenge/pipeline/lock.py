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
def outputs_lock(outputs: str) -> Iterator[Path]:
    """Hold the outputs folder's training lock; raise :class:`OutputsBusy` if another run
    holds it. The lock goes with the process, so a killed run never leaves it held."""
    path = Outputs(outputs).local / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise OutputsBusy(
                f"another run is using {outputs} (pid {holder}): wait for it to finish, or "
                "give this one another --outputs"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
