"""The prediction log's writer: batches, spills while the database is away, replays, and
never blocks or loses a row silently."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.monitoring.log import (
    SCHEMA_VERSION,
    Answered,
    LogError,
    PredictionLog,
    connect,
    read_predictions,
    record_batch_run,
    resolve_url,
)
from tests.support.airbnb import EXAMPLE_LISTING

pytestmark = pytest.mark.unit


def _answer(i: int) -> Answered:
    return Answered(
        logged_at=time.time(),
        request_id=f"r{i // 3}",
        endpoint="/classify",
        model="price_classifier:test",
        listing=EXAMPLE_LISTING | {"id": i, "beds": None},
        category="High",
        probabilities=[0.1, 0.2, 0.6, 0.1],
        position=i % 3,
    )


def test_rows_are_written_with_every_field(tmp_path: Path) -> None:
    """Check that recorded answers land in the table as sent: inputs, answer, probabilities."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = PredictionLog(url, tmp_path / "spill")
    for i in range(1200):
        log.record(_answer(i))
    log.close()
    rows = read_predictions(url)
    assert len(rows) == 1200 and log.counts.written == 1200
    first = rows.iloc[0]
    assert first["listing_id"] == 0 and first["room_type"] == "Entire home/apt"
    assert first["beds"] is None or first["beds"] != first["beds"]  # NULL as sent
    assert first["tv"] == 1 and first["latitude"] == EXAMPLE_LISTING["latitude"]
    assert (first["price_category"], first["p_high"]) == ("High", 0.6)
    # Stored in UTC (SQLite keeps no zone): the times recorded a moment ago.
    logged = pd.to_datetime(rows["logged_at"], utc=True)
    assert (pd.Timestamp.now(tz="UTC") - logged).abs().max() < pd.Timedelta(minutes=1)


def test_rows_spill_while_the_database_is_away_and_are_replayed(tmp_path: Path) -> None:
    """Check that nothing is lost while the database cannot be reached: rows go to the spill
    file, and once it answers they are inserted and the file removed."""
    folder = tmp_path / "not-yet"
    url = f"sqlite:///{folder / 'log.sqlite'}"
    log = PredictionLog(url, tmp_path / "spill", retry_seconds=0.2)
    for i in range(300):
        log.record(_answer(i))
    log.flush()
    assert log.counts.spilled == 300 and log.counts.written == 0
    assert list((tmp_path / "spill").glob("*.jsonl"))
    folder.mkdir()  # the database comes back
    for i in range(300, 350):
        log.record(_answer(i))
    deadline = time.monotonic() + 10
    while log.counts.replayed < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    log.close()
    # Rows recorded before the retry spilled too: all that spilled was replayed.
    assert log.counts.replayed == log.counts.spilled >= 300 and log.counts.dropped == 0
    assert log.counts.written + log.counts.replayed == 350
    ids = sorted(read_predictions(url)["listing_id"])
    assert ids == list(range(350))
    assert not list((tmp_path / "spill").glob("*.jsonl"))


def test_a_dead_workers_spill_is_replayed_by_the_next(tmp_path: Path) -> None:
    """Check that rows spilled by a process that then died are inserted by the next writer."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    spill = tmp_path / "spill"
    spill.mkdir()
    row = json.dumps(
        {
            **{k: v for k, v in EXAMPLE_LISTING.items() if k != "id"},
            "listing_id": 7, "logged_at": "2026-01-01T00:00:00+00:00", "request_id": "x",
            "endpoint": "/classify", "model": "m", "price_category": "Low",
            "p_low": 1.0, "p_mid": 0.0, "p_high": 0.0, "p_lux": 0.0,
        }
    )  # fmt: skip
    (spill / f"predictions-{dead}.jsonl").write_text(row + "\n")
    log = PredictionLog(url, spill)
    log.record(_answer(1))
    log.close()
    assert sorted(read_predictions(url)["listing_id"]) == [1, 7]
    assert log.counts.replayed == 1


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    """Check that record() never blocks: past the bound, rows are dropped and counted."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = PredictionLog(url, tmp_path / "spill", max_rows=10, interval=5.0)
    started = time.monotonic()
    for i in range(5000):
        log.record(_answer(i))
    assert time.monotonic() - started < 2
    log.close()
    assert log.counts.dropped > 0
    assert log.counts.written + log.counts.dropped == 5000


def test_schema_versions_and_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    """Check that a log from a newer version and a malformed URL are refused with the fix."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    engine = connect(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE mle_log_meta SET value = '99' WHERE key = 'schema'")
    engine.dispose()
    with pytest.raises(LogError, match="newer than this toolkit"):
        connect(url)
    with pytest.raises(LogError, match="not a database URL"):
        PredictionLog("not a url at all", tmp_path / "spill")
    assert resolve_url("off", tmp_path) is None
    assert resolve_url("default", tmp_path) == f"sqlite:///{tmp_path / 'predictions.sqlite'}"
    assert resolve_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"


def test_batch_runs_are_recorded(tmp_path: Path) -> None:
    """Check that a batch run's row holds its input, hash, output, model and counts."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    record_batch_run(url, input="in.csv", input_sha256="0" * 64, output="out.csv",
                     model="m:1", rows=10, predicted=9, refused=1)  # fmt: skip
    engine = connect(url)
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT input, rows, refused FROM mle_batch_runs")).one()
    engine.dispose()
    assert tuple(row) == ("in.csv", 10, 1)
    unreachable = f"sqlite:///{tmp_path / 'missing' / 'log.sqlite'}"
    with pytest.raises(LogError, match="cannot use the prediction log"):
        record_batch_run(unreachable, input="i", input_sha256="0" * 64, output="o", model="m",
                         rows=1, predicted=1, refused=0)  # fmt: skip
    assert (tmp_path / "log.sqlite").exists()


def test_a_replay_of_rows_already_written_adds_none_twice(tmp_path: Path) -> None:
    """Check the outage case where the database committed rows but the writer saw an error
    and spilled them: replaying the spill file must not insert them a second time."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = PredictionLog(url, tmp_path / "spill")
    for i in range(30):
        log.record(_answer(i))
    log.close()
    # The same rows, spilled by a writer that died before it could replay them.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    from mle_challenge.monitoring.log.schema import _row
    from mle_challenge.monitoring.log.spill import _iso

    lines = [json.dumps(_row(_answer(i)), default=_iso) for i in range(30)]
    (tmp_path / "spill" / f"predictions-{dead}.jsonl").write_text("\n".join(lines) + "\n")
    again = PredictionLog(url, tmp_path / "spill")
    again.record(_answer(30))
    again.close()
    logged = read_predictions(url)
    assert len(logged) == 31 and logged["answer_key"].is_unique
    assert not list((tmp_path / "spill").glob("*.jsonl"))  # the file was replayed, and removed


def test_a_schema_1_log_is_upgraded_in_place(tmp_path: Path) -> None:
    """Check that a log written before answer_key existed gets the column and keeps its rows."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = connect(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX IF EXISTS ix_mle_predictions_answer_key")
        connection.exec_driver_sql("ALTER TABLE mle_predictions DROP COLUMN answer_key")
        connection.exec_driver_sql("UPDATE mle_log_meta SET value = '1' WHERE key = 'schema'")
        connection.exec_driver_sql(
            "INSERT INTO mle_predictions (logged_at, request_id, endpoint, model, listing_id, "
            "accommodates, room_type, neighbourhood, tv, elevator, internet, latitude, "
            "longitude, price_category, p_low, p_mid, p_high, p_lux) VALUES ("
            "'2026-01-01 00:00:00', 'old', '/classify', 'm', 5, 2, 'Private room', 'Bronx', "
            "0, 0, 1, 40.8, -73.9, 'Low', 1, 0, 0, 0)"
        )
    engine.dispose()
    log = PredictionLog(url, tmp_path / "spill")
    log.record(_answer(1))
    log.close()
    engine = connect(url)
    with engine.connect() as connection:
        version = connection.exec_driver_sql(
            "SELECT value FROM mle_log_meta WHERE key = 'schema'"
        ).scalar()
        columns = {c["name"] for c in sa.inspect(connection).get_columns("mle_predictions")}
    engine.dispose()
    assert version == str(SCHEMA_VERSION) and "answer_key" in columns
    assert sorted(read_predictions(url)["listing_id"]) == [1, 5]


def _wait(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition(), "the writer did not get there"


def _dead_pid() -> str:
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def _spilled_lines(ids: range) -> list[str]:
    from mle_challenge.monitoring.log.schema import _row
    from mle_challenge.monitoring.log.spill import _iso

    return [json.dumps(_row(_answer(i)), default=_iso) for i in ids]


def test_the_writer_survives_when_the_database_and_the_spill_both_fail(tmp_path: Path) -> None:
    """Check the full-disk case: with neither the database nor the spill folder usable, the
    writer lives on, holds the rows and says it is degraded; once both are back, every row
    is logged and none dropped."""
    spill = tmp_path / "spill"
    spill.write_text("a file where the spill folder should be")
    folder = tmp_path / "db"
    url = f"sqlite:///{folder / 'log.sqlite'}"
    log = PredictionLog(url, spill, interval=0.05, retry_seconds=0.05, max_retry_seconds=0.2)
    for i in range(200):
        log.record(_answer(i))
    _wait(lambda: log.health().held == 200)
    health = log.health()
    assert health.state == "holding" and health.degraded and "spill file" in health.reason
    assert log.counts.spill_failures > 0 and log.counts.failures > 0
    spill.unlink()  # the disk has room again: rows spill, the database is still away
    _wait(lambda: log.health().state == "spilling")
    assert log.counts.spilled == 200
    folder.mkdir()  # and the database is back
    _wait(lambda: log.health().state == "ok" and log.counts.replayed == 200)
    log.close()
    assert sorted(read_predictions(url)["listing_id"]) == list(range(200))
    assert log.counts.dropped == 0 and not log.health().degraded


def test_rows_neither_the_database_nor_the_spill_takes_are_all_counted(tmp_path: Path) -> None:
    """Check that past the bound, and at a stop, rows that could not be kept are counted as
    dropped: written + spilled + dropped is every row recorded."""
    spill = tmp_path / "spill"
    spill.write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'missing' / 'log.sqlite'}"
    log = PredictionLog(url, spill, max_rows=50, interval=0.02, retry_seconds=0.02)
    for start in range(0, 120, 40):
        for i in range(start, start + 40):
            log.record(_answer(i))
        _wait(lambda: log._queue.unfinished_tasks == 0)
    assert log.counts.dropped == 70 and log.health().held == 50  # the oldest went first
    log.close()
    counts = log.counts
    assert (counts.written, counts.spilled, counts.dropped) == (0, 0, 120)


def test_a_spill_write_cut_short_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that a spill append the disk cuts short is truncated away (the rows stay held, so
    they must not be half in the file too)."""
    import errno
    import os

    from mle_challenge.monitoring.log.spill import _append

    path = tmp_path / "predictions-1.jsonl"
    path.write_text('{"a": 1}\n')

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        _append(path, ['{"b": 2}\n', '{"c": 3}\n'])
    assert path.read_text() == '{"a": 1}\n'


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    """Check that a spill file whose last line was cut off (a kill or a full disk mid-write)
    is replayed without it, the line counted as torn, and the writer goes on."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    spill = tmp_path / "spill"
    spill.mkdir()
    lines = _spilled_lines(range(10, 14))
    torn = "\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2]
    (spill / f"predictions-{_dead_pid()}.jsonl").write_text(torn)
    log = PredictionLog(url, spill)
    log.record(_answer(1))
    log.flush()
    log.record(_answer(2))
    log.close()
    assert sorted(read_predictions(url)["listing_id"]) == [1, 2, 10, 11, 12]
    assert (log.counts.replayed, log.counts.torn) == (3, 1)
    assert not list(spill.iterdir())


def test_an_unreadable_spill_file_is_quarantined_and_the_rest_replayed(tmp_path: Path) -> None:
    """Check that a spill file that cannot be read is set aside as ``.quarantined`` (counted),
    and that the other files, including one a dead process was replaying, still go in."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    spill = tmp_path / "spill"
    spill.mkdir()
    dead = _dead_pid()
    good, bad = _spilled_lines(range(20, 22)), _spilled_lines(range(30, 32))
    (spill / f"predictions-{dead}.jsonl").write_text(bad[0] + "\n{not json\n" + bad[1] + "\n")
    (spill / f"predictions-1.replaying-{dead}").write_text("\n".join(good) + "\n")
    log = PredictionLog(url, spill)
    log.record(_answer(1))
    log.close()
    assert sorted(read_predictions(url)["listing_id"]) == [1, 20, 21]
    assert (log.counts.replayed, log.counts.quarantined) == (2, 3)
    assert [p.name for p in spill.iterdir()] == [f"predictions-{dead}.quarantined"]


def test_a_database_that_stops_answering_is_left_behind_and_the_rows_spilled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check the frozen-server case (SIGSTOP): an insert that never returns is left behind
    after its timeout, and a stop spills the rows within its budget instead of waiting."""
    import threading

    from mle_challenge.monitoring.log import writer

    frozen = threading.Event()
    monkeypatch.setattr(writer, "_insert_into", lambda *a, **k: frozen.wait(60))
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = PredictionLog(url, tmp_path / "spill", statement_seconds=0.3, retry_seconds=0.1)
    for i in range(100):
        log.record(_answer(i))
    _wait(lambda: log.counts.spilled == 100)  # the statement timed out: spilled, not waiting
    assert log.health().state == "spilling" and "did not answer" in log.health().reason
    for i in range(100, 150):
        log.record(_answer(i))
    log.close(timeout=1.0)
    frozen.set()
    assert not log._thread.is_alive()
    assert log.counts.spilled == 150 and log.counts.dropped == 0
    spilled = [json.loads(line) for p in (tmp_path / "spill").glob("*.jsonl")
               for line in p.read_text().splitlines()]  # fmt: skip
    assert sorted(row["listing_id"] for row in spilled) == list(range(150))


def test_a_retry_with_the_same_idempotency_key_is_logged_once(tmp_path: Path) -> None:
    """Check that two answers to one keyed request (a client's retry) make one row each
    listing, and that a key reused for other listings is not taken for a retry."""
    from dataclasses import replace

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = PredictionLog(url, tmp_path / "spill")
    batch = [replace(_answer(i), request_id="3f2b-retry", position=i, keyed=True) for i in range(3)]
    for answer in [*batch, *batch]:  # the retry, in the same round
        log.record(answer)
    log.flush()
    for answer in batch:  # and once more, later
        log.record(answer)
    log.record(replace(_answer(9), request_id="3f2b-retry", position=0, keyed=True))
    log.close()
    logged = read_predictions(url)
    assert sorted(logged["listing_id"]) == [0, 1, 2, 9]
    assert set(logged["request_id"]) == {"3f2b-retry"}
