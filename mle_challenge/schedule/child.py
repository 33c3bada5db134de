"""The training child process: started, stopped from another thread, and its result read."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Interrupted(Exception):
    """The process was asked to stop (SIGTERM, SIGINT) while a run was going."""


class TrainingTimeout(Exception):
    """The training ran longer than ``--timeout``."""


class TrainingProcess:
    """A child process (the training pipeline) that another thread can stop.

    It runs in its own process group, so stopping it reaches Luigi's worker processes too:
    SIGTERM, then SIGKILL after ``grace`` seconds. Luigi writes every output through a
    temporary path, so a stopped run leaves nothing that looks complete.
    """

    def __init__(self, grace: float = 30.0) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(self, command: list[str], output: Path, timeout: float | None = None) -> int:
        """Run ``command`` to its end, its output into ``output``; return its exit status.
        Raises :class:`Interrupted` once :meth:`stop` was called, :class:`TrainingTimeout`."""
        with self._lock:
            if self._stopping:
                raise Interrupted
            with output.open("wb") as out:
                process = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            self._process = process
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self._terminate(process)
            raise TrainingTimeout from exc
        finally:
            with self._lock:
                self._process = None
        if self._stopping and code != 0:  # stopped; a training that had finished stands
            raise Interrupted
        return code

    def stop(self) -> None:
        """Stop the running child, if any, and refuse to start another."""
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None:
            self._terminate(process)

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(self.grace)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass(frozen=True)
class Training:
    """What the training child gave back (``train --summary-json``)."""

    ok: bool
    tag: str | None = None
    gate: dict[str, Any] | None = None
    message: str = ""  # when not ok: what went wrong, in one line


def read_training(summary: Path, code: int, output: Path) -> Training:
    """The child's result: its summary JSON, or what its exit status and output say."""
    raw = json.loads(summary.read_text()) if summary.is_file() else None
    if raw is not None and raw.get("ok") and code == 0:
        return Training(ok=True, tag=raw["tag"], gate=raw["gate"])
    text = output.read_text(errors="replace") if output.is_file() else ""
    said = str(raw["summary"]) if raw is not None else ""
    if said.startswith("error: "):  # our own clear error, e.g. an unreadable listings file
        return Training(ok=False, message=said.removeprefix("error: "))
    tasks = failed_tasks(said)
    where = f"{', '.join(tasks)} failed" if tasks else f"training exited with status {code}"
    cause = last_exception(text)
    return Training(ok=False, message=f"{where}{': ' + cause if cause else ''} (log: {output})")


def failed_tasks(luigi_summary: str) -> list[str]:
    """The task names in the 'failed' part of Luigi's execution summary."""
    names: list[str] = []
    inside = False
    for line in luigi_summary.splitlines():
        if line.startswith("* "):
            inside = "failed" in line and "dependencies" not in line
        elif inside and (found := re.match(r"\s+- \d+ (\w+)\(", line)):
            names.append(found.group(1))
    return names


def last_exception(output: str) -> str | None:
    """The last 'SomeError: message' line of a child's output (Luigi logs the traceback)."""
    lines = re.findall(r"^(?:[a-z_]\w*\.)*[A-Z][a-z]\w*: .+$", output, flags=re.MULTILINE)
    return lines[-1][:300] if lines else None
