"""The monitored window: each listing's latest answer counts once."""

from __future__ import annotations

import pandas as pd
import pytest

from mle_challenge.monitoring.monitor import latest_answers

pytestmark = pytest.mark.unit


def test_each_listings_latest_answer_counts_once() -> None:
    """Check that a listing answered twice (a retry without a key, a batch sent again) is
    counted once, by its latest answer, in logged order, and that the rest is untouched."""
    times = pd.to_datetime(
        ["2026-11-01 10:00", "2026-11-01 10:01", "2026-11-01 10:02", "2026-11-01 09:00"], utc=True
    )
    frame = pd.DataFrame(
        {
            "listing_id": [7, 8, 7, 9],
            "logged_at": times,
            "model": ["m:1", "m:1", "m:2", "m:1"],
            "price_category": ["Low", "Mid", "High", "Lux"],
        }
    )
    kept, repeated = latest_answers(frame)
    assert repeated == 1
    assert kept["listing_id"].tolist() == [8, 7, 9]  # the order they came in, less the earlier 7
    assert kept.loc[kept["listing_id"] == 7, "price_category"].item() == "High"
    assert latest_answers(frame.iloc[:0])[1] == 0
