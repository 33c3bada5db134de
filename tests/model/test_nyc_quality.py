"""Model quality on the real NYC data: the pipeline trained on the reconstructed file.

The figures are measured on test rows the model never saw (not in training, not in selection).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import NycTrained

pytestmark = [pytest.mark.model, pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def nyc_run(nyc_trained: NycTrained) -> dict[str, Any]:
    return nyc_trained.record


def test_baseline_reproduces_the_notebook(nyc_run: dict[str, Any]) -> None:
    """Check that the notebook's model, retrained here, scores what the data scientists reported."""
    test = nyc_run["candidates"]["baseline_rf"]["test"]
    assert test["accuracy"] == pytest.approx(0.605, abs=0.03)
    assert test["roc_auc_ovr"] == pytest.approx(0.818, abs=0.02)


def test_selected_model_beats_the_baseline(nyc_run: dict[str, Any]) -> None:
    """Check the selected model on unseen rows against the notebook's 0.605 / 0.536 / 0.818.

    These floors are what the pipeline reaches today (0.684 / 0.619 / 0.868 measured);
    the issue's targets (0.70 / 0.63 / 0.885) are not met, see docs/model.md and
    ``make bench-ceiling``.
    """
    test = nyc_run["metrics"]["test"]
    assert test["accuracy"] >= 0.67
    assert test["macro_f1"] >= 0.60
    assert test["roc_auc_ovr"] >= 0.86
    assert nyc_run["selected"] != "baseline_rf"
