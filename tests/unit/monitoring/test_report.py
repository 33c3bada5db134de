"""The monitoring summary as Prometheus gauges: the text file, and any given registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mle_challenge.monitoring.report import fill_gauges, write_gauges

pytestmark = pytest.mark.unit

MODEL = "price_classifier:abc"


def _summary(*, realized: bool) -> dict[str, Any]:
    field = {"psi": 0.31, "drifted": True}
    summary: dict[str, Any] = {
        "alarm": True,
        "drift": {
            MODEL: {
                "rows": 900,
                "drift_share": 0.5,
                "prediction_mix": {"psi": 0.02},
                "fields": {"latitude": field, "beds": {"psi": 0.01, "drifted": False}},
            },
            "old:model": {"rows": 3, "problem": "no reference profile"},
        },
    }
    if realized:
        summary["realized"] = {"by_model": {MODEL: {"accuracy": 0.7, "macro_f1": 0.6, "rows": 800}}}
    return summary


@pytest.mark.parametrize("realized", [False, True])
def test_fill_gauges_fills_the_registry_it_is_given(realized: bool, tmp_path: Path) -> None:
    """Check that the gauges land in the given registry, with the same text as the file."""
    registry = CollectorRegistry()
    fill_gauges(_summary(realized=realized), registry)
    text = generate_latest(registry).decode()
    assert "mle_monitor_alarm 1.0" in text
    assert f'mle_feature_psi{{feature="latitude",model="{MODEL}"}} 0.31' in text
    assert f'mle_drift_share{{model="{MODEL}"}} 0.5' in text
    assert "old:model" not in text  # a model without profile has no drift figures
    assert ("mle_realized_accuracy{" in text) is realized
    write_gauges(_summary(realized=realized), tmp_path / "metrics.prom")
    assert (tmp_path / "metrics.prom").read_text() == text
