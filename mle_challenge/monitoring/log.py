"""The prediction log: every answer the service gives, and every batch run, in a database.

``MLE_PREDICTION_LOG`` chooses where: a SQLAlchemy URL (``sqlite:///path``,
``postgresql://user:password@host/db``), ``default`` for a SQLite file beside the model store,
or ``off``. Writing never happens on the request path: a request appends one tuple to a bounded
in-memory queue, and a thread per worker inserts them in batches. When the database is slow or
down, rows go to a local spill file and are replayed once it answers again; nothing blocks and
nothing is dropped unless the queue itself is full (``dropped`` counts that, and should stay 0).

The tables carry a schema version (``mle_log_meta``): a log written by a newer version is
refused with a clear error rather than misread; columns added by later versions are added to
an older log in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.errors import MleError
from mle_challenge.lifecycle.store import pid_alive
from mle_challenge.model.features import API_FEATURES

SCHEMA_VERSION = 2  # 2 added answer_key, so that a replay never inserts a row twice
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
        sa.Column("request_id", sa.String(32), nullable=False),
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


def connect(url: str) -> Any:
    """An engine for ``url`` with the log's tables in place (created, or checked and upgraded)."""
    import sqlalchemy as sa

    try:
        # A database that does not answer must not hold the writer (or a batch run) for long.
        options = {"connect_timeout": 5} if url.startswith("postgresql") else {}
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


def _row(answer: Answered) -> dict[str, Any]:
    listing = answer.listing
    # Enum members (room type, neighbourhood) are stored as their text.
    row = {name: _plain(listing.get(name)) for name in API_FEATURES}
    row.update(
        logged_at=datetime.fromtimestamp(answer.logged_at, UTC),
        request_id=answer.request_id,
        answer_key=f"{answer.request_id}-{answer.position}",
        endpoint=answer.endpoint,
        model=answer.model,
        listing_id=int(listing["id"]),
        price_category=answer.category,
    )
    row.update(zip(PROBABILITY_COLUMNS, map(float, answer.probabilities), strict=True))
    return row


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@dataclass
class Counts:
    """What happened to the rows handed to the log (each only ever grows)."""

    written: int = 0
    spilled: int = 0
    replayed: int = 0
    dropped: int = 0
    failures: int = 0  # times the database could not be written
    observers: list[Callable[[str, int], None]] = field(default_factory=list, repr=False)

    def add(self, event: str, n: int) -> None:
        setattr(self, event, getattr(self, event) + n)
        for observe in self.observers:
            observe(event, n)


class PredictionLog:
    """A background writer of :class:`Answered` rows into the log at ``url``.

    ``record`` never blocks and never raises. Rows are inserted in batches of up to
    ``batch_rows``, at least every ``interval`` seconds; when an insert fails, the batch goes
    to a spill file in ``spill_dir`` and the database is tried again after ``retry_seconds``,
    replaying what was spilled (by this process, or by one that stopped before replaying it).
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
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self.counts = Counts()
        self._queue: queue.Queue[Answered] = queue.Queue(maxsize=max_rows)
        self._batch_rows = batch_rows
        self._interval = interval
        self._retry_seconds = retry_seconds
        self._engine: Any = None
        self._insert: Any = None
        self._retry_at = 0.0
        self._spill = spill_dir / f"{_SPILL_PREFIX}{os.getpid()}.jsonl"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, answer: Answered) -> None:
        """Hand one answer over; never blocks (a full queue drops it, and counts that)."""
        try:
            self._queue.put_nowait(answer)
        except queue.Full:
            self.counts.add("dropped", 1)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything recorded so far has been written or spilled."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self, timeout: float = 30.0) -> None:
        """Write (or spill) everything recorded so far, then stop the writer."""
        self._stop.set()
        self._thread.join(timeout)
        if self._engine is not None:
            self._engine.dispose()

    # --- the writer thread ---

    def _run(self) -> None:
        # The writer wakes on a clock, not on each row: woken per row it wrote one-row
        # transactions and took the GIL from the request path, costing a quarter of the
        # throughput at c=8 (measured with make bench-serve).
        while True:
            stopping = self._stop.wait(self._interval)
            if stopping:
                # A last try at the database even within the retry pause: a failure just
                # before a stop (two workers creating a new SQLite log at once, say) left every
                # row in the spill file until the next start.
                self._retry_at = 0.0
            batch = self._drain()
            for start in range(0, max(len(batch), 1), self._batch_rows):
                self._write(batch[start : start + self._batch_rows])
            for _ in batch:
                self._queue.task_done()
            if stopping:
                return

    def _drain(self) -> list[Answered]:
        batch: list[Answered] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch

    def _write(self, batch: list[Answered]) -> None:
        rows = [_row(answer) for answer in batch]
        if not self._connected():
            self._spill_rows(rows)
            return
        try:
            if rows:
                with self._engine.begin() as connection:
                    connection.execute(self._insert, rows)
        except Exception:  # whatever the driver raises: the database did not take them
            self._failed()
            self._spill_rows(rows)
            return
        self.counts.add("written", len(rows))
        self._replay()

    def _connected(self) -> bool:
        if self._engine is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._engine = connect(self.url)
        except Exception:  # down, refused, or not yet created: try again later
            self._failed()
            return False
        self._insert = _insert(_tables()[1], self._engine.dialect.name)
        return True

    def _failed(self) -> None:
        self.counts.add("failures", 1)
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._retry_at = time.monotonic() + self._retry_seconds

    def _spill_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._spill.open("a") as out:
            for row in rows:
                out.write(json.dumps(row, default=_iso) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.counts.add("spilled", len(rows))

    def _replay(self) -> None:
        """Insert the spill files this process may take: its own, and those of processes
        that are gone. Each file goes in one transaction, so a failure leaves it whole."""
        for path in _claimable(self.spill_dir, self._spill):
            claimed = path.with_suffix(f".replaying-{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:  # another worker took it
                continue
            rows = [_parsed(line) for line in claimed.read_text().splitlines() if line.strip()]
            try:
                with self._engine.begin() as connection:
                    for start in range(0, len(rows), 1000):
                        connection.execute(self._insert, rows[start : start + 1000])
            except Exception:
                claimed.rename(path)
                self._failed()
                return
            claimed.unlink()
            self.counts.add("replayed", len(rows))


_SPILL_PREFIX = "predictions-"


def _claimable(folder: Path, own: Path) -> Iterator[Path]:
    for path in sorted(folder.glob(f"{_SPILL_PREFIX}*.jsonl")):
        owner = path.stem.removeprefix(_SPILL_PREFIX)
        if path == own or (owner.isdigit() and not pid_alive(int(owner))):
            yield path


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
