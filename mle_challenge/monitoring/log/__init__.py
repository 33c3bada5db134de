"""The prediction log: every answer the service gives, and every batch run, in a database.

``MLE_PREDICTION_LOG`` chooses where: a SQLAlchemy URL (``sqlite:///path``,
``postgresql://user:password@host/db``), ``default`` for a SQLite file beside the model store,
or ``off``. Writing never happens on the request path: a request appends one tuple to a bounded
in-memory queue, and a thread per worker inserts them in batches. When the database is slow,
down or frozen, rows go to a local spill file and are replayed once it answers again; when the
spill cannot be written either (a full disk), rows wait in memory and both are tried again.
Nothing blocks, and a row is dropped only past the memory bound or at a stop that neither the
database nor the disk takes it in (``dropped`` counts every one, and should stay 0).

The tables carry a schema version (``mle_log_meta``): a log written by a newer version is
refused with a clear error rather than misread; columns added by later versions are added to
an older log in place.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.errors import MleError
from mle_challenge.lifecycle.store import pid_alive
from mle_challenge.model.features import API_FEATURES

# 2 added answer_key, so that a replay never inserts a row twice; 3 widened request_id to 64
# characters, for the clients' Idempotency-Key.
SCHEMA_VERSION = 3
PROBABILITY_COLUMNS = tuple(f"p_{c.lower()}" for c in CATEGORIES)


class LogError(MleError):
    """The prediction log cannot be opened or read as configured."""


def _tables() -> tuple[Any, Any, Any, Any]:
    """The log's tables (SQLAlchemy Core), built on first use so that importing is cheap."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    kinds = {"room_type": sa.String(64), "neighbourhood": sa.String(128)}
    integers = {"accommodates", "tv", "elevator", "internet"}
    features = [
        sa.Column(
            name,
            kinds.get(name) or (sa.Integer() if name in integers else sa.Float()),
            nullable=name in ("beds", "bedrooms", "bathrooms"),
        )
        for name in API_FEATURES
    ]
    predictions = sa.Table(
        "mle_predictions",
        metadata,
        sa.Column("row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        # request id and position in the request: unique, so that rows the database took
        # while the writer saw an error (a commit cut off by an outage) are not inserted
        # again when the spill file is replayed. Empty in rows of schema 1.
        sa.Column("answer_key", sa.String(48), nullable=True),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("model", sa.String(128), nullable=False, index=True),
        sa.Column("listing_id", sa.BigInteger(), nullable=False, index=True),
        *features,
        sa.Column("price_category", sa.String(16), nullable=False),
        *(sa.Column(c, sa.Float(), nullable=False) for c in PROBABILITY_COLUMNS),
        sa.Index("ix_mle_predictions_answer_key", "answer_key", unique=True),
    )
    batch_runs = sa.Table(
        "mle_batch_runs",
        metadata,
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("predicted", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
    )
    meta = sa.Table(
        "mle_log_meta",
        metadata,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    return metadata, predictions, batch_runs, meta


def resolve_url(setting: str, default_folder: Path) -> str | None:
    """The database URL for ``MLE_PREDICTION_LOG``: None when it is ``off``."""
    if setting.strip().lower() == "off":
        return None
    if setting.strip().lower() in ("", "default"):
        default_folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{default_folder / 'predictions.sqlite'}"
    if setting.startswith("postgresql://"):  # psycopg 3 is the driver we ship
        return "postgresql+psycopg://" + setting.removeprefix("postgresql://")
    return setting


def hidden_url(url: str) -> str:
    """``url`` without its password, for messages."""
    from sqlalchemy.engine import make_url

    with contextlib.suppress(Exception):
        return make_url(url).render_as_string(hide_password=True)
    return "<unparseable URL>"


def connect(url: str, statement_seconds: float | None = None) -> Any:
    """An engine for ``url`` with the log's tables in place (created, or checked and upgraded).

    With ``statement_seconds``, PostgreSQL cancels a statement that runs longer (the writer's
    inserts; not the reads of ``monitor``, which may be long)."""
    import sqlalchemy as sa

    try:
        # A database that does not answer must not hold the writer (or a batch run) for long.
        options: dict[str, Any] = {}
        if url.startswith("postgresql"):
            options["connect_timeout"] = 5
            if statement_seconds is not None:
                options["options"] = f"-c statement_timeout={int(statement_seconds * 1000)}"
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=options)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise LogError(
            f"MLE_PREDICTION_LOG={hidden_url(url)} is not a database URL we can use: {exc}. "
            "Use sqlite:///path, postgresql://user:password@host/db, default or off."
        ) from exc
    try:
        _prepare(engine, url)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        cause = getattr(exc, "orig", None) or exc  # the driver's own words, when it has them
        reason = (str(cause).strip().splitlines() or [type(exc).__name__])[0]
        raise LogError(f"cannot use the prediction log at {hidden_url(url)}: {reason}") from exc
    return engine


def _prepare(engine: Any, url: str) -> None:
    import sqlalchemy as sa

    metadata, _, _, meta = _tables()
    with engine.begin() as connection:
        metadata.create_all(connection, checkfirst=True)
        row = connection.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).first()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise LogError(
                f"the prediction log at {hidden_url(url)} has schema version {found}, newer than "
                f"this toolkit's {SCHEMA_VERSION}: upgrade mle-challenge, or log elsewhere."
            )
        if found < SCHEMA_VERSION:
            _upgrade(connection, found)
            values = {"key": "schema", "value": str(SCHEMA_VERSION)}
            if row:
                connection.execute(meta.update().where(meta.c.key == "schema"), values)
            else:
                connection.execute(meta.insert(), values)


def _upgrade(connection: Any, found: int) -> None:
    """Bring a log written with schema ``found`` to :data:`SCHEMA_VERSION`: each later
    version's added columns go here, as ``ALTER TABLE ... ADD COLUMN``. Version 1 is the first.
    A log just created (``found`` 0) already has every column."""
    import sqlalchemy as sa

    columns = {c["name"] for c in sa.inspect(connection).get_columns("mle_predictions")}
    if found >= 1 and "answer_key" not in columns:
        connection.exec_driver_sql("ALTER TABLE mle_predictions ADD COLUMN answer_key VARCHAR(48)")
        connection.exec_driver_sql(
            "CREATE UNIQUE INDEX IF NOT EXISTS ix_mle_predictions_answer_key "
            "ON mle_predictions (answer_key)"
        )
    if 1 <= found < 3 and connection.dialect.name == "postgresql":  # SQLite keeps any length
        connection.exec_driver_sql(
            "ALTER TABLE mle_predictions ALTER COLUMN request_id TYPE VARCHAR(64)"
        )


def _insert(table: Any, dialect: str) -> Any:
    """An insert that skips rows whose ``answer_key`` is already there (PostgreSQL, SQLite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table).on_conflict_do_nothing(index_elements=["answer_key"])
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=["answer_key"])
    return table.insert()


# --- writing ---


@dataclass(frozen=True)
class Answered:
    """One answer, as the request path hands it over: cheap to build."""

    logged_at: float  # time.time()
    request_id: str
    endpoint: str
    model: str
    listing: dict[str, Any]  # the /classify fields as received, with the id
    category: str
    probabilities: Sequence[float]  # in CATEGORIES order
    position: int = 0  # the listing's place in its request (a batch has several)
    keyed: bool = False  # request_id is the client's Idempotency-Key: a retry sends it again


def _row(answer: Answered) -> dict[str, Any]:
    listing = answer.listing
    # Enum members (room type, neighbourhood) are stored as their text.
    row = {name: _plain(listing.get(name)) for name in API_FEATURES}
    row.update(
        logged_at=datetime.fromtimestamp(answer.logged_at, UTC),
        request_id=answer.request_id,
        answer_key=answer_key(answer.request_id, answer.position, int(listing["id"]), answer.keyed),
        endpoint=answer.endpoint,
        model=answer.model,
        listing_id=int(listing["id"]),
        price_category=answer.category,
    )
    row.update(zip(PROBABILITY_COLUMNS, map(float, answer.probabilities), strict=True))
    return row


def answer_key(request_id: str, position: int, listing_id: int, keyed: bool) -> str:
    """The unique key of one answer: the same for a retry of a request that carried the same
    Idempotency-Key, so the log keeps one row of the two. A client's key is hashed with the
    listing's place and id (a key reused for other listings is not taken for a retry), which
    also keeps any key of up to 64 characters within the column's 48."""
    if not keyed:
        return f"{request_id}-{position}"
    digest = hashlib.sha256(f"{request_id}\0{position}\0{listing_id}".encode()).hexdigest()
    return f"k{digest[:40]}"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@dataclass
class Counts:
    """What happened to the rows handed to the log (each only ever grows).

    Every row recorded ends as exactly one of written, spilled (then replayed, maybe by another
    process) or dropped; ``torn`` and ``quarantined`` count spilled rows a replay could not read.
    """

    written: int = 0
    spilled: int = 0
    replayed: int = 0
    dropped: int = 0  # a full queue, or neither the database nor the spill took them in time
    torn: int = 0  # cut-off last lines of spill files (a write the disk or a kill cut short)
    quarantined: int = 0  # lines of spill files set aside as unreadable (``*.quarantined``)
    failures: int = 0  # times the database could not be written
    spill_failures: int = 0  # times the spill file could not be written
    observers: list[Callable[[str, int], None]] = field(default_factory=list, repr=False)

    def add(self, event: str, n: int) -> None:
        setattr(self, event, getattr(self, event) + n)
        for observe in self.observers:
            observe(event, n)


@dataclass(frozen=True)
class LogHealth:
    """The writer's state: ``ok``; ``spilling`` (the database does not take rows, the spill
    file does: nothing is lost); ``holding`` (neither does: rows wait in memory, up to the
    queue's bound, and are dropped past it)."""

    state: str
    reason: str  # the last error, one line; empty when ok
    held: int  # rows in memory that neither the database nor the spill has taken
    queued: int

    @property
    def degraded(self) -> bool:
        return self.state != "ok"


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
_SPILL_PREFIX = "predictions-"


def _insert_into(
    connection: Any, insert: Any, *, rows: list[dict[str, Any]], chunk: int = 1000
) -> None:
    for start in range(0, len(rows), chunk):
        connection.execute(insert, rows[start : start + chunk])


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


def _one_line(prefix: str, exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # the driver's own words, when it has them
    text = (str(cause).strip().splitlines() or [""])[0] or type(exc).__name__
    return f"{prefix}{text}"


def _is_data_error(exc: BaseException) -> bool:
    """The database answered, and refused the rows themselves: trying again cannot help."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.DBAPIError):
        return isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError)
    return isinstance(exc, sa.exc.StatementError | KeyError | TypeError)


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


# --- batch runs ---


def record_batch_run(url: str, **run: Any) -> None:
    """Add one batch run (input, its sha256, output, model, counts) to the log at ``url``."""
    import sqlalchemy as sa

    engine = connect(url)
    try:
        with engine.begin() as connection:
            connection.execute(_tables()[2].insert(), {"finished_at": datetime.now(UTC), **run})
    except sa.exc.SQLAlchemyError as exc:
        raise LogError(f"could not record the batch run in {hidden_url(url)}: {exc}") from exc
    finally:
        engine.dispose()


# --- reading ---


def read_predictions(url: str, since: datetime | None = None, until: datetime | None = None) -> Any:
    """The logged answers (a DataFrame), oldest first, from ``since`` (inclusive) to ``until``
    (exclusive) when given."""
    import pandas as pd
    import sqlalchemy as sa

    engine = connect(url)
    predictions = _tables()[1]
    query = sa.select(predictions).order_by(predictions.c.row_id)
    if since is not None:
        query = query.where(predictions.c.logged_at >= since)
    if until is not None:
        query = query.where(predictions.c.logged_at < until)
    try:
        with engine.connect() as connection:
            return pd.read_sql(query, connection)
    finally:
        engine.dispose()


def last_batch_run(url: str, output: str) -> dict[str, Any] | None:
    """The latest recorded batch run that wrote ``output``, if the log has one."""
    import sqlalchemy as sa

    engine = connect(url)
    runs = _tables()[2]
    query = sa.select(runs).where(runs.c.output == output).order_by(runs.c.run_id.desc()).limit(1)
    try:
        with engine.connect() as connection:
            row = connection.execute(query).mappings().first()
    finally:
        engine.dispose()
    return dict(row) if row is not None else None
