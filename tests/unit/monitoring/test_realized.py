"""Realized performance: joining logged predictions with a later file's prices."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.config import MonitorParams
from mle_challenge.data.actuals import read_actuals
from mle_challenge.errors import DataValidationError
from mle_challenge.monitoring.realized import (
    AFTER_SCRAPE,
    NOT_IN_FILE,
    join_actuals,
    realized_performance,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _later_file(tmp_path: Path, last_scraped: str | None = "2026-11-20") -> Path:
    rows = [
        (1, "$50.00"),  # Low
        (2, "$150.00"),  # Mid
        (3, "$1,250.00"),  # Lux
        (4, ""),  # no price
        (5, "$5.00"),  # below $10
        (6, "$300.00"),  # High
    ]
    frame = pd.DataFrame(rows, columns=["id", "price"]).assign(name="x")
    if last_scraped:
        frame["last_scraped"] = last_scraped
    path = tmp_path / "later.csv"
    frame.to_csv(path, index=False)
    return path


def _window(rows: list[tuple[int, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "listing_id": i,
                "price_category": c,
                "model": m,
                "logged_at": T0 + timedelta(days=d),
            }
            for i, c, m, d in rows
        ]
    )


def test_later_prices_are_parsed_as_training_parses_them(tmp_path: Path) -> None:
    """Check ids, categories (with $1,250.00 as Lux) and the unusable prices with reasons."""
    actuals = read_actuals(str(_later_file(tmp_path)))
    assert dict(zip(actuals.table["id"], actuals.table["category"], strict=True)) == {
        1: "Low",
        2: "Mid",
        3: "Lux",
        6: "High",
    }
    assert dict(zip(actuals.unusable["id"], actuals.unusable["reason"], strict=True)) == {
        4: "missing price",
        5: "price below $10",
    }
    # The file's last day ends after any prediction made on it.
    assert actuals.scraped_at == datetime(2026, 11, 21, tzinfo=UTC)


def test_the_scrape_time_comes_from_the_option_else_the_file(tmp_path: Path) -> None:
    """Check --scraped-at first, then last_scraped, then a local file's modification time."""
    given = datetime(2026, 12, 1, tzinfo=UTC)
    assert read_actuals(str(_later_file(tmp_path)), given).scraped_at == given
    plain = _later_file(tmp_path, last_scraped=None)
    os.utime(plain, (T0.timestamp(), T0.timestamp()))
    found = read_actuals(str(plain))
    assert found.scraped_at == T0 and "modification time" in found.scraped_from


def test_a_file_without_prices_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Check that a summary listings file (no price column) gets a clear error."""
    path = tmp_path / "summary.csv"
    pd.DataFrame({"id": [1], "name": ["x"]}).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"no price column.*detailed listings"):
        read_actuals(str(path))


def test_every_prediction_is_joined_or_counted_with_its_reason(tmp_path: Path) -> None:
    """Check the join: before the scrape and priced → joined; otherwise counted by reason."""
    actuals = read_actuals(str(_later_file(tmp_path)))
    window = _window(
        [
            (1, "Low", "m:1", 0),
            (1, "Mid", "m:1", 7),  # the same listing again, a week later: its own prediction
            (2, "Mid", "m:1", 1),
            (3, "High", "m:1", 2),
            (4, "Low", "m:1", 2),
            (5, "Low", "m:1", 2),
            (9, "Low", "m:1", 2),
            (6, "High", "m:1", 25),  # after the scrape
        ]
    )
    joined, not_joined = join_actuals(window, actuals)
    assert joined["listing_id"].tolist() == [1, 1, 2, 3]
    assert joined["actual"].tolist() == ["Low", "Low", "Mid", "Lux"]
    assert not_joined == {
        AFTER_SCRAPE: 1,
        NOT_IN_FILE: 1,
        "later price unusable: missing price": 1,
        "later price unusable: price below $10": 1,
    }
    assert len(joined) + sum(not_joined.values()) == len(window)


def test_figures_per_model_and_week_and_the_alarm(tmp_path: Path) -> None:
    """Check accuracy per model and per week, and an alarm only for a judged model whose
    realized accuracy is further below its test accuracy than allowed."""
    actuals = read_actuals(str(_later_file(tmp_path)))
    window = _window(
        [
            *[(1, "Low", "m:1", 0), (2, "Mid", "m:1", 0), (3, "Lux", "m:1", 8)],
            *[(6, "Low", "m:1", 8), (1, "Mid", "m:2", 1), (2, "Mid", "m:2", 1)],
        ]
    )
    test = {"m:1": {"accuracy": 0.9, "macro_f1": 0.9}, "m:2": {"accuracy": 0.9, "macro_f1": 0.9}}
    result = realized_performance(window, actuals, "later.csv", test, MonitorParams(min_rows=3))
    assert result.by_model["m:1"]["accuracy"] == pytest.approx(0.75)
    assert result.by_model["m:1"]["per_class"]["High"]["recall"] == 0.0
    assert result.by_model["m:2"]["accuracy"] == pytest.approx(0.5)
    assert [(w["model"], w["week"], w["rows"]) for w in result.by_week] == [
        ("m:1", "2026-10-26", 2),
        ("m:1", "2026-11-09", 2),
        ("m:2", "2026-11-02", 2),
    ]
    assert result.alarm and all("m:1" in r for r in result.reasons)  # m:2 has 2 < min_rows
    assert result.listings_joined == 4 and result.joined == 6


def test_later_prices_are_categorised_by_the_edges_of_the_model_that_answered(
    tmp_path: Path,
) -> None:
    """A quantile model of another city cut its categories elsewhere: its $150 listing is High,
    while NYC's edges (the default, for models that saved none) make it Mid."""
    actuals = read_actuals(str(_later_file(tmp_path)))
    window = _window(
        [(2, "High", "zurich:1", 0), (2, "Mid", "nyc:1", 0), (6, "Lux", "zurich:1", 0)]
    )
    joined, _ = join_actuals(window, actuals, {"zurich:1": (60.0, 120.0, 250.0)})
    assert joined["actual"].tolist() == ["High", "Mid", "Lux"]
