"""The spill files: rows the database did not take, appended to ``predictions-<pid>.jsonl``
beside the model store, claimed for a replay (``.replaying-<pid>``) by the process that wrote
them or by any process once the writer is gone, and read back with a torn last line skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mle_challenge.lifecycle.store import pid_alive

_SPILL_PREFIX = "predictions-"


def _append(path: Path, lines: list[str]) -> None:
    """Append ``lines`` durably, or not at all: a write cut short (a full disk) is truncated
    away, so the rows, which stay held, are not also half in the file."""
    with path.open("ab") as out:
        start = out.tell()
        try:
            out.write("".join(lines).encode())
            out.flush()
            os.fsync(out.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                out.truncate(start)
            raise


def _storable(row: dict[str, Any]) -> bool:
    try:
        json.dumps(row, default=_iso)
    except (TypeError, ValueError):
        return False
    return True


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0]  # predictions-<pid>


def _claimable(folder: Path, own: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob(f"{_SPILL_PREFIX}*")):
        suffix = path.name.split(".", 1)[1] if "." in path.name else ""
        owner = _stem(path).removeprefix(_SPILL_PREFIX)
        if suffix == "jsonl":
            if path == own or (owner.isdigit() and not pid_alive(int(owner))):
                yield path
        elif suffix.startswith("replaying-"):  # a replay its process did not live to finish
            replayer = suffix.removeprefix("replaying-")
            if replayer.isdigit() and not pid_alive(int(replayer)):
                yield path


@dataclass(frozen=True)
class _Spilled:
    rows: list[dict[str, Any]]
    torn: int  # a cut-off last line, skipped


def _read_spill(path: Path) -> _Spilled:
    """The rows of a spill file. Only its last line may be torn (an append cut short by a kill
    or a full disk); any other line that does not parse makes the whole file unreadable."""
    lines = path.read_bytes().split(b"\n")
    last = lines.pop()  # b"" when the file ends with a newline, as every whole write does
    rows = [_parsed(line.decode()) for line in lines if line.strip()]
    torn = 0
    if last.strip():
        try:
            rows.append(_parsed(last.decode()))
        except (ValueError, KeyError, TypeError):
            torn = 1
    return _Spilled(rows, torn)


def _count_lines(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.read_bytes().count(b"\n")
    return 0


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _parsed(line: str) -> dict[str, Any]:
    row = dict(json.loads(line))
    row["logged_at"] = datetime.fromisoformat(row["logged_at"])
    return row
