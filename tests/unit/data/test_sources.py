"""Unit tests for mle_challenge.data.sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.config import get_settings
from mle_challenge.data import sources
from mle_challenge.errors import SourceError

pytestmark = pytest.mark.unit


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_s3_endpoint_from_settings(monkeypatch: pytest.MonkeyPatch, fresh_settings: None) -> None:
    """Check that AWS_ENDPOINT_URL reaches s3fs, and that local paths get no options."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    assert sources.storage_options("s3://bucket/key.csv") == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:8333"}
    }
    assert sources.storage_options("/tmp/x.csv") is None


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.csv.gz"])
def test_write_read_roundtrip(tmp_path: Path, name: str) -> None:
    """Check that a table written by extension reads back equal."""
    frame = pd.DataFrame({"id": [1, 2], "price": [75.0, 1250.0]})
    sources.write_table(frame, tmp_path / name)
    pd.testing.assert_frame_equal(sources.read_table(tmp_path / name), frame)


def test_unknown_extension(tmp_path: Path) -> None:
    """Check that an unknown output extension names the ones we write."""
    with pytest.raises(SourceError, match=r"\.parquet"):
        sources.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.xlsx")


def _bomb(path: Path, rows: bytes, megabytes: int) -> Path:
    """A gzip file with a listings header and ``megabytes`` of ``rows`` after it."""
    import gzip

    with gzip.open(path, "wb") as handle:
        handle.write(b"id,price,amenities\n")
        block = rows * ((1 << 20) // len(rows))
        for _ in range(megabytes):
            handle.write(block)
    return path


@pytest.mark.parametrize("rows", [b",,\n", b"\0" * 1000 + b"\n", b"\n"])
def test_a_decompression_bomb_is_one_clear_error(
    tmp_path: Path, rows: bytes, fresh_settings: None
) -> None:
    """Check that a gzip file that expands hundreds of times after a valid header is refused
    by every reader, saying what and which setting to raise (a 4.7 MB gzip of NULs needed
    1.16 GB of memory; 200 MB of empty rows, 2.57 GB and a traceback)."""
    bomb = str(_bomb(tmp_path / "bomb.csv.gz", rows, 40))
    assert sources.csv_columns(bomb) == ["id", "price", "amenities"]  # the header is fine
    for read in (sources.read_csv_strings, lambda s: list(sources.read_csv_chunks(s, None))):
        with pytest.raises(SourceError, match=r"expands more than 100 times.*MLE_MAX_DECOMP"):
            read(bomb)


def test_the_decompression_limit_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    """Check that MLE_MAX_DECOMPRESSION_RATIO lets a genuine, very compressible file through,
    and that a file within the limit reads whole."""
    bomb = str(_bomb(tmp_path / "b.csv.gz", b"1,,\n", 12))
    with pytest.raises(SourceError, match="expands more than"):
        sources.read_csv_strings(bomb)
    monkeypatch.setenv("MLE_MAX_DECOMPRESSION_RATIO", "100000")
    get_settings.cache_clear()
    assert len(sources.read_csv_strings(bomb)) == 12 * ((1 << 20) // 4)


def test_a_row_longer_than_a_block_is_one_clear_error(tmp_path: Path) -> None:
    """Check that a row past Arrow's 1 MiB block (an unclosed quote) says so in words."""
    path = tmp_path / "quote.csv"
    path.write_bytes(b'id,price\n1,"' + b"x" * (2 << 20) + b"\n")
    with pytest.raises(SourceError, match="row longer than 1 MiB"):
        sources.read_csv_strings(str(path))
