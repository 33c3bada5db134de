"""Shared fixtures: the real data location and small synthetic listings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

NYC = "nyc-2021-12"


def _data_dir() -> Path | None:
    from mle_challenge.config import Settings

    return Settings().data_dir  # a fresh read: tests may set MLE_DATA_DIR late


@pytest.fixture(scope="session")
def nyc_dir() -> Path:
    """The real NYC data folder; skips the test with the reason when it is absent."""
    root = _data_dir()
    if root is None:
        pytest.skip("real data not configured: set MLE_DATA_DIR (make test does) to shared/data")
    folder = root / NYC
    if not folder.is_dir():
        pytest.skip(f"real data absent: {folder} does not exist")
    return folder


@pytest.fixture(scope="session")
def synthetic_raw() -> pd.DataFrame:
    """2,000 synthetic raw listings with every cell a string, as the reader returns them."""
    from mle_challenge.synthetic import generate_listings

    frame = generate_listings(2000, seed=7)
    return frame.astype(str).replace("", None)


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic raw listings file on disk."""
    from mle_challenge.synthetic import generate_listings

    path = tmp_path_factory.mktemp("synth") / "listings.csv.gz"
    generate_listings(1500, seed=3).to_csv(path, index=False)
    return path
