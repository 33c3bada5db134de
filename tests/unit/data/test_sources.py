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
