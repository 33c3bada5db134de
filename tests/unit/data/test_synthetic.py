"""Unit tests for the synthetic demo listings."""

from __future__ import annotations

import pandas as pd
import pytest

from mle_challenge.data.clean import REQUIRED_COLUMNS, clean_listings
from mle_challenge.data.synthetic import SYNTH_COLUMNS, generate_listings

pytestmark = pytest.mark.unit


def test_deterministic_for_a_seed() -> None:
    """Check that the same rows and seed give the same listings, and another seed does not."""
    pd.testing.assert_frame_equal(generate_listings(300, 1), generate_listings(300, 1))
    assert not generate_listings(300, 1).equals(generate_listings(300, 2))


def test_raw_format() -> None:
    """Check the raw detailed format: its columns and string formats."""
    frame = generate_listings(500, 0)
    assert tuple(frame.columns) == SYNTH_COLUMNS
    assert set(REQUIRED_COLUMNS) <= set(frame.columns)
    assert frame["price"].str.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d").all()
    assert frame["amenities"].str.startswith("[").all()
    assert set(frame["neighbourhood_group_cleansed"]) <= {
        "Manhattan",
        "Brooklyn",
        "Queens",
        "Bronx",
        "Staten Island",
    }


def test_cleans_with_realistic_drops(synthetic_raw: pd.DataFrame) -> None:
    """Check that the demo data cleans, with missing values dropped at realistic rates."""
    result = clean_listings(synthetic_raw)
    assert 0.7 < result.report.rows_kept / result.report.rows_read < 0.98
    assert set(result.report.categories) == {"Low", "Mid", "High", "Lux"}


def test_price_depends_on_features(synthetic_raw: pd.DataFrame) -> None:
    """Check there is structure to learn: Manhattan homes cost more than Bronx rooms."""
    table = clean_listings(synthetic_raw).table
    homes = table[(table.neighbourhood == "Manhattan") & (table.room_type == "Entire home/apt")]
    rooms = table[(table.neighbourhood != "Manhattan") & (table.room_type == "Private room")]
    assert homes["price"].median() > 1.8 * rooms["price"].median()


def test_rejects_zero_rows() -> None:
    """Check that asking for no rows is an error naming the value."""
    with pytest.raises(ValueError, match="got 0"):
        generate_listings(0)
