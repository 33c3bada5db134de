"""Reading and adding to the log outside the service: a batch run's row, the answers of a
window (for monitoring), and the last batch run that wrote a given output.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mle_challenge.monitoring.log.schema import LogError, _tables, connect, hidden_url

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
