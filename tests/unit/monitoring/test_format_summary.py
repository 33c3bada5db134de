"""Unit tests for what `mle-challenge monitor` prints (monitoring.monitor.format_summary)."""

from __future__ import annotations

from typing import Any

import pytest

from mle_challenge.monitoring.monitor import format_summary

pytestmark = pytest.mark.unit


def _summary(rows: int, judged: bool) -> dict[str, Any]:
    drift = {
        "rows": rows,
        "judged": judged,
        "fields": {"latitude": {"drifted": False}},
        "prediction_mix": {"psi": 8.293},
    }
    return {
        "window": {"source": "log", "from": "a", "to": "b", "rows": rows},
        "drift": {"price_classifier:x": drift},
        "thresholds": {"min_rows": 200},
        "notes": [],
        "alarms": [],
        "alarm": False,
    }


def test_a_window_too_small_says_so_instead_of_a_psi() -> None:
    """Check that a window under monitor.min_rows is called too small, with no PSI (one answer
    printed "PSI 8.293")."""
    text = format_summary(_summary(1, judged=False))
    assert "1 answers, a window too small to judge drift (monitor.min_rows is 200)" in text
    assert "PSI" not in text


def test_a_judged_window_shows_its_psi() -> None:
    """Check that a window of enough answers still shows the predicted mix's PSI."""
    assert "predicted-mix PSI 8.293" in format_summary(_summary(500, judged=True))
