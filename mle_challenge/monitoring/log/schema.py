"""The prediction log's tables and how a database gets them: the schema (versioned in
``mle_log_meta``), the URL a setting names, connecting (create, check, upgrade), the insert that
skips rows already there, and the row one answer becomes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.errors import MleError
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
