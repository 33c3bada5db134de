"""The writer's database, called from a thread of its own, so that a server that does not
answer costs the writer a timeout rather than its thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from mle_challenge.monitoring.log.schema import _insert, _tables, connect


class _Unanswered(Exception):
    """The database did not answer in time (a frozen server, a lost network)."""


class _Database:
    """The log's database, called from a thread of its own: a server that is frozen, or whose
    network went silent, answers no timeout of its own (the kernel still acknowledges the
    connection), so the writer waits ``timeout`` seconds and moves on, spilling, while the call
    it left behind finishes or fails on its own. One call at a time: while one is left behind,
    the database counts as not answering."""

    def __init__(self, url: str, statement_seconds: float) -> None:
        self.url = url
        self.statement_seconds = statement_seconds
        self._engine: Any = None
        self._insert: Any = None
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._last: Future[Any] | None = None
        # A daemon thread, not a ThreadPoolExecutor: Python joins an executor's threads at
        # exit, and one blocked on a frozen server would hold the worker's exit forever.
        threading.Thread(target=self._serve, name="prediction-log-db", daemon=True).start()

    def run(self, work: Callable[[Any, Any], Any], timeout: float) -> Any:
        """``work(connection, insert)`` in one transaction; :class:`_Unanswered` after
        ``timeout`` seconds or while a call left behind is still running."""
        if self._last is not None and not self._last.done():
            raise _Unanswered("the database has not answered an earlier call yet")
        self._last = Future()
        self._jobs.put((lambda: self._transaction(work), self._last))
        try:
            return self._last.result(max(timeout, 0.0))
        except TimeoutError:
            raise _Unanswered(f"the database did not answer within {timeout:.1f} s") from None

    def _serve(self) -> None:
        while True:
            job, future = self._jobs.get()
            if future.cancelled():  # close(): the thread's last job
                return
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the writer, which decides
                future.set_exception(exc)

    def _transaction(self, work: Callable[[Any, Any], Any]) -> Any:
        if self._engine is None:
            self._engine = connect(self.url, statement_seconds=self.statement_seconds)
            self._insert = _insert(_tables()[1], self._engine.dialect.name)
        try:
            with self._engine.begin() as connection:
                return work(connection, self._insert)
        except Exception:
            self._engine.dispose()  # a fresh connection next time
            self._engine = None
            raise

    def close(self) -> None:
        """Dispose of the engine and end the thread, after a call left behind if there is one
        (the thread is a daemon: a call that never returns does not hold the exit)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            self._jobs.put((engine.dispose, Future()))
        last: Future[Any] = Future()
        last.cancel()
        self._jobs.put((lambda: None, last))


def _is_data_error(exc: BaseException) -> bool:
    """The database answered, and refused the rows themselves: trying again cannot help."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.DBAPIError):
        return isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError)
    return isinstance(exc, sa.exc.StatementError | KeyError | TypeError)
