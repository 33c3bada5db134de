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

The parts: ``schema`` (the tables, the URL, connecting and upgrading, the row of an answer),
``writer`` (the background writer), ``database`` (its database, on a thread of its own),
``spill`` (the spill files), ``health`` (what the writer counts and reports) and ``read``
(batch runs, and reading the log back).
"""

from mle_challenge.monitoring.log.health import Counts, LogHealth
from mle_challenge.monitoring.log.read import last_batch_run, read_predictions, record_batch_run
from mle_challenge.monitoring.log.schema import (
    PROBABILITY_COLUMNS,
    SCHEMA_VERSION,
    Answered,
    LogError,
    answer_key,
    connect,
    hidden_url,
    resolve_url,
)
from mle_challenge.monitoring.log.writer import PredictionLog

__all__ = [
    "PROBABILITY_COLUMNS",
    "SCHEMA_VERSION",
    "Answered",
    "Counts",
    "LogError",
    "LogHealth",
    "PredictionLog",
    "answer_key",
    "connect",
    "hidden_url",
    "last_batch_run",
    "read_predictions",
    "record_batch_run",
    "resolve_url",
]
