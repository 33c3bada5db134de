"""The data scientists' baseline, the Airbnb project's own candidate kind."""

from __future__ import annotations

import pytest

from mle_challenge.airbnb.baseline import BaselineFeatures, neighbourhood_order
from mle_challenge.model.train import build_candidate

pytestmark = pytest.mark.unit


def test_neighbourhoods_rank_by_their_listings_mean_category() -> None:
    """Check that neighbourhoods order from the cheapest mean category to the dearest."""
    hoods = ["A", "A", "B", "B", "C"]
    labels = ["Lux", "High", "Low", "Mid", "Low"]
    assert neighbourhood_order(hoods, labels) == ["C", "B", "A"]


def test_the_baseline_kind_is_found_by_name() -> None:
    """Check that the model layer builds the baseline from the Airbnb package's own code."""
    pipeline = build_candidate({"kind": "baseline_random_forest", "params": {"n_estimators": 3}})
    assert isinstance(pipeline.steps[0][1], BaselineFeatures)
    assert pipeline.steps[-1][1].n_estimators == 3
