"""The background writer: answers handed over on the request path, inserted in batches by a
thread per worker, spilled while the database does not take them, held in memory while the
spill cannot be written either, and replayed once the database answers; what happened to every
row is counted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mle_challenge.monitoring.log.database import _Database, _is_data_error, _Unanswered
from mle_challenge.monitoring.log.health import Counts, LogHealth
from mle_challenge.monitoring.log.schema import Answered, LogError, _row, hidden_url
from mle_challenge.monitoring.log.spill import (
    _SPILL_PREFIX,
    _append,
    _claimable,
    _count_lines,
    _iso,
    _read_spill,
    _stem,
    _storable,
)


class _Backoff:
    """When to try again after failures: ``base`` seconds, doubled per failure up to ``cap``."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, max(cap, base)
        self.failures = 0
        self.next_try = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.next_try

    def failed(self) -> None:
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        self.next_try = time.monotonic() + delay

    def succeeded(self) -> None:
        self.failures, self.next_try = 0, 0.0


_STOP_SECONDS = 5.0  # within BentoML's (circus') 30 s before it kills a stopping worker


class PredictionLog:
    """A background writer of :class:`Answered` rows into the log at ``url``.

    ``record`` never blocks and never raises. Rows are inserted in statements of up to
    ``batch_rows``, at least every ``interval`` seconds. When an insert fails or takes more
    than ``statement_seconds``, the rows go to a spill file in ``spill_dir`` and the database
    is tried again after ``retry_seconds``, doubled per failure up to ``max_retry_seconds``,
    replaying what was spilled (by this process, or by one that stopped before replaying it).
    When the spill cannot be written either (a full disk, a read-only folder), rows wait in
    memory and both are tried again; past ``max_rows`` the oldest are dropped, and counted.
    The writer survives any error: each one is counted, and :meth:`health` says what is wrong.
    """

    def __init__(
        self,
        url: str,
        spill_dir: Path,
        *,
        max_rows: int = 100_000,
        batch_rows: int = 2000,
        interval: float = 0.25,
        retry_seconds: float = 2.0,
        max_retry_seconds: float = 5.0,
        statement_seconds: float = 5.0,
        stop_seconds: float = _STOP_SECONDS,
    ) -> None:
        from sqlalchemy.engine import make_url

        try:
            make_url(url)
        except Exception as exc:  # SQLAlchemy's ArgumentError, or a bad port
            raise LogError(
                f"MLE_PREDICTION_LOG is not a database URL: {exc}. Use sqlite:///path, "
                "postgresql://user:password@host/db, default or off."
            ) from exc
        self.url = url
        self.spill_dir = spill_dir
        with contextlib.suppress(OSError):  # else the first spill says why, and tries again
            spill_dir.mkdir(parents=True, exist_ok=True)
        self.counts = Counts()
        self.state_observers: list[Callable[[LogHealth], None]] = []
        self._queue: queue.Queue[Answered] = queue.Queue(maxsize=max_rows)
        self._max_rows = max_rows
        self._batch_rows = batch_rows
        self._interval = interval
        self._statement_seconds = statement_seconds
        self._stop_seconds = stop_seconds
        self._database = _Database(url, statement_seconds)
        self._database_retry = _Backoff(retry_seconds, max_retry_seconds)
        self._spill_retry = _Backoff(interval, 5.0)
        self._held: list[dict[str, Any]] = []  # rows neither the database nor the spill took
        self._errors = {"database": "", "spill": ""}  # the last error of each, "" once it works
        self._health = LogHealth("ok", "", 0, 0)
        self._spill = spill_dir / f"{_SPILL_PREFIX}{os.getpid()}.jsonl"
        self._stop = threading.Event()
        self._deadline = float("inf")  # when the stop's budget runs out (monotonic)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, answer: Answered) -> None:
        """Hand one answer over; never blocks (a full queue drops it, and counts that)."""
        try:
            self._queue.put_nowait(answer)
        except queue.Full:
            self.counts.add("dropped", 1)

    def health(self) -> LogHealth:
        """The writer's state after its last round (see :class:`LogHealth`): a round waiting on
        a database that does not answer shows the state before it, for up to
        ``statement_seconds``."""
        return self._health

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything recorded so far has been written or spilled (or ``timeout``
        has passed: rows that neither takes stay held)."""
        deadline = time.monotonic() + timeout
        while (self._queue.unfinished_tasks or self._held) and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self, timeout: float | None = None) -> None:
        """Write (or spill) everything recorded so far, then stop the writer, within
        ``timeout`` seconds (``stop_seconds``): a database that does not answer by then is left
        behind, and its rows spilled. Rows that could not be kept are counted as dropped."""
        budget = self._stop_seconds if timeout is None else timeout
        self._deadline = time.monotonic() + budget
        self._stop.set()
        self._thread.join(budget + 1.0)  # the spill itself is local, and quick
        lost = self._queue.qsize() + len(self._held)
        if self._thread.is_alive() and lost:
            _logger.error("prediction log: the writer did not stop in time; %d rows lost", lost)
            self.counts.add("dropped", lost)
        self._database.close()

    # --- the writer thread ---

    def _run(self) -> None:
        # The writer wakes on a clock, not on each row: woken per row it wrote one-row
        # transactions and took the GIL from the request path, costing a quarter of the
        # throughput at c=8 (measured with make bench-serve).
        while True:
            stopping = self._stop.wait(self._interval)
            try:
                self._round(stopping)
            except Exception as exc:  # a bug or a failure nobody foresaw: never the end
                self._errors["writer"] = f"unexpected {type(exc).__name__}: {exc}"
                _logger.exception("prediction log: unexpected error; the writer goes on")
            self._publish()
            if stopping:
                return

    def _round(self, final: bool) -> None:
        """One round: take the queue, then the database, else the spill, else hold; replay."""
        self._take_queue()
        if self._held and (final or self._database_retry.due()):
            self._to_database(final)
        if self._held and (final or self._spill_retry.due()):
            self._to_spill()
        self._bound_held(final)
        if not self._held and self._errors["database"] and not final and self._database_retry.due():
            self._to_database(final)  # no rows to write: a probe, so that the spill is replayed
        if not self._held and not self._errors["database"]:
            self._replay(final)

    def _take_queue(self) -> None:
        while True:
            try:
                answer = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                self._held.append(_row(answer))
            except Exception as exc:  # an answer without a usable id: nothing to store
                self.counts.add("dropped", 1)
                _logger.error("prediction log: dropped an answer that is not a row: %s", exc)
            finally:
                self._queue.task_done()

    def _timeout(self, rows: int, final: bool) -> float:
        """How long to wait for the database: a statement's time per 1000 rows, and at a stop
        no longer than what is left of its budget (the spill still has to be written)."""
        wanted = self._statement_seconds * (1 + rows // 1000)
        if final:
            return min(wanted, self._deadline - time.monotonic() - 0.5)
        return wanted

    def _to_database(self, final: bool) -> None:
        rows = list(self._held)  # a call left behind must not see rows added later
        timeout = self._timeout(len(rows), final)
        if timeout <= 0:
            return
        try:
            self._database.run(
                functools.partial(_insert_into, rows=rows, chunk=self._batch_rows), timeout
            )
        except Exception as exc:  # whatever the driver raises, or no answer in time
            self._database_failed(exc)
            return
        self._held = []
        self.counts.add("written", len(rows))
        self._database_retry.succeeded()
        self._errors["database"] = ""

    def _database_failed(self, exc: BaseException) -> None:
        self.counts.add("failures", 1)
        self._database_retry.failed()
        where = "" if isinstance(exc, LogError) else f"{hidden_url(self.url)}: "  # it says
        self._errors["database"] = _one_line(where, exc)

    def _to_spill(self) -> None:
        lines: list[str] = []
        for row in self._held:
            try:
                lines.append(json.dumps(row, default=_iso) + "\n")
            except (TypeError, ValueError) as exc:  # a value JSON cannot hold: never storable
                self.counts.add("dropped", 1)
                _logger.error("prediction log: dropped a row the spill cannot hold: %s", exc)
        try:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            _append(self._spill, lines)
        except OSError as exc:  # a full disk, a read-only or missing folder: try again soon
            self.counts.add("spill_failures", 1)
            self._spill_retry.failed()
            self._errors["spill"] = _one_line(f"spill file {self._spill}: ", exc)
            self._held = [row for row in self._held if _storable(row)]
            return
        self._held = []
        self.counts.add("spilled", len(lines))
        self._spill_retry.succeeded()
        self._errors["spill"] = ""

    def _bound_held(self, final: bool) -> None:
        """Drop the oldest held rows past the queue's bound (or all of them at a stop): rows
        kept in memory are the last resort, and memory is bounded too."""
        excess = len(self._held) if final else len(self._held) - self._max_rows
        if excess > 0:
            self._held = self._held[excess:]
            self.counts.add("dropped", excess)
            _logger.error(
                "prediction log: dropped %d rows that neither the database nor the spill took (%s)",
                excess,
                "; ".join(e for e in self._errors.values() if e),
            )

    def _publish(self) -> None:
        """Update :meth:`health`; say so in the log when the state changes."""
        reason = "; ".join(e for e in self._errors.values() if e)
        state = "holding" if self._held else ("spilling" if self._errors["database"] else "ok")
        self._errors.pop("writer", None)  # an unexpected error is said once, with its traceback
        before = self._health
        self._health = LogHealth(state, reason, len(self._held), self._queue.qsize())
        if state != before.state:
            if state == "ok":
                _logger.warning("prediction log: back to ok")
            else:
                _logger.warning("prediction log: %s: %s", state, reason)
        for observe in self.state_observers:
            observe(self._health)

    def _replay(self, final: bool) -> None:
        """Insert the spill files this process may take: its own, those of processes that are
        gone, and those a gone process was replaying. Each file goes in one transaction, so a
        failure leaves it whole; a torn last line is skipped and counted, and a file that
        cannot be read, or that the database refuses as data, is set aside as quarantined."""
        for path in _claimable(self.spill_dir, self._spill):
            claimed = path.with_name(f"{_stem(path)}.replaying-{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:  # another worker took it
                continue
            try:
                spilled = _read_spill(claimed)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._quarantine(claimed, exc, _count_lines(claimed))
                continue
            timeout = self._timeout(len(spilled.rows), final)
            try:
                if timeout <= 0:  # the stop's budget is spent: the next process replays it
                    raise _Unanswered("no time left before the stop")
                self._database.run(functools.partial(_insert_into, rows=spilled.rows), timeout)
            except Exception as exc:
                if _is_data_error(exc):
                    self._quarantine(claimed, exc, len(spilled.rows) + spilled.torn)
                    continue
                claimed.rename(path)
                self._database_failed(exc)
                return
            claimed.unlink()
            self.counts.add("replayed", len(spilled.rows))
            if spilled.torn:
                self.counts.add("torn", spilled.torn)
                _logger.warning("prediction log: %s ended in a cut-off line, skipped", path.name)

    def _quarantine(self, path: Path, exc: BaseException, lines: int) -> None:
        target = path.with_name(f"{_stem(path)}.quarantined")
        with contextlib.suppress(OSError):
            path.rename(target)
        self.counts.add("quarantined", lines)
        _logger.error(
            "prediction log: set %s aside as %s (%d lines): %s",
            path.name,
            target.name,
            lines,
            _one_line("", exc),
        )


_logger = logging.getLogger("mle_challenge.prediction_log")


def _insert_into(
    connection: Any, insert: Any, *, rows: list[dict[str, Any]], chunk: int = 1000
) -> None:
    for start in range(0, len(rows), chunk):
        connection.execute(insert, rows[start : start + chunk])


def _one_line(prefix: str, exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # the driver's own words, when it has them
    text = (str(cause).strip().splitlines() or [""])[0] or type(exc).__name__
    return f"{prefix}{text}"
