"""One training run per outputs folder on a machine.

Two runs with Luigi's local scheduler on one folder race for the same stage files: the second
met ``FileAlreadyExists`` and left a ``-luigi-tmp-`` file behind. A run therefore holds an
exclusive lock (``flock``) on ``<outputs>/train.lock`` (in the local mirror of shared outputs)
and a second one waits for it, saying so in one line: two cities' runs on one folder's cache
(tests/e2e/test_model_names.py) then run one after the other. Runs through a central
scheduler (luigid) take no lock: luigid hands each task to one worker, so several workers may
share the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from mle_challenge.lifecycle.outputs import Outputs

LOCK_FILE = "train.lock"


@contextlib.contextmanager
def exclusive(path: Path, waiting: Callable[[str], None] | None = None) -> Iterator[str | None]:
    """Hold an exclusive lock on ``path``: yields None when held here. When another process
    holds it: without ``waiting``, yields who ("pid N") at once; with it, calls it with who,
    then waits for the lock. The lock goes with the process: a killed holder never keeps it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = f"pid {handle.read().strip() or '?'}"
            if waiting is None:
                yield holder
                return
            waiting(holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
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
    """Hold the outputs folder's training lock, waiting (with one line saying so) while another
    run holds it: two runs may share a folder's cache, for two cities or two parameter files,
    but not at the same moment."""

    def say(holder: str) -> None:
        print(
            f"another run is using {outputs} ({holder}): waiting for it to finish", file=sys.stderr
        )

    with exclusive(Outputs(outputs).local / LOCK_FILE, say):
        yield Outputs(outputs).local / LOCK_FILE
