"""Drift detection on synthetic later months, with a real model: no alarm on the same market a
month on, over 20 seeds; an alarm on every seed when the market moved (shift 0.5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mle_challenge.config import MonitorParams
from mle_challenge.data.clean import clean_listings
from mle_challenge.data.synthetic import generate_listings
from mle_challenge.model.evaluate import label_metrics
from mle_challenge.model.features import to_model_input
from mle_challenge.model.train import fit_candidate
from mle_challenge.monitoring.drift import input_drift
from mle_challenge.monitoring.profile import build_profile

pytestmark = [pytest.mark.model]

SEEDS = range(100, 120)
WINDOW = 1000


@pytest.fixture(scope="module")
def served() -> tuple[Any, dict[str, Any]]:
    """A model trained on the demo's month 0 (6,000 listings, seed 0) and its profile."""
    table = clean_listings(generate_listings(6000, 0).astype(str).replace("", None)).table
    train, test = table.iloc[:4800], table.iloc[4800:]
    spec = {"kind": "hist_gradient_boosting", "params": {"max_iter": 80, "random_state": 0}}
    model = fit_candidate(spec, to_model_input(train), train["category"].astype(str))
    figures = label_metrics(test["category"], model.predict(to_model_input(test)))
    return model, build_profile(to_model_input(train), figures["confusion_matrix"])


def _answered(model: Any, seed: int, shift: float) -> pd.DataFrame:
    """A window: month-1 listings of another seed, as the service would get and answer them."""
    raw = generate_listings(WINDOW, seed, month=1, shift=shift).astype(str).replace("", None)
    rows = to_model_input(clean_listings(raw, labelled=False).table)
    return rows.assign(price_category=np.asarray(model.predict(rows)).astype(str))


def test_no_false_alarm_on_the_same_market_over_20_seeds(served: tuple[Any, Any]) -> None:
    """Check that 20 windows of an unshifted later month raise no alarm and drift no field."""
    model, profile = served
    results = [input_drift(profile, _answered(model, s, 0.0), MonitorParams()) for s in SEEDS]
    assert [r.alarm for r in results] == [False] * len(SEEDS)
    drifted = sum(f.drifted for r in results for f in r.fields.values())
    assert drifted <= 2, f"{drifted} drifted fields in {len(SEEDS)} windows of the same market"
    assert max(r.prediction_mix.psi for r in results) < MonitorParams().max_prediction_psi


def test_a_moved_market_raises_the_alarm_on_every_seed(served: tuple[Any, Any]) -> None:
    """Check that shift 0.5 (a share of new, larger, central homes) is an alarm every time,
    naming the fields that moved."""
    model, profile = served
    results = [input_drift(profile, _answered(model, s, 0.5), MonitorParams()) for s in SEEDS]
    assert [r.alarm for r in results] == [True] * len(SEEDS)
    for result in results:
        drifted = {name for name, f in result.fields.items() if f.drifted}
        assert drifted & {"room_type", "neighbourhood", "accommodates", "bedrooms"}
        assert not drifted & {"tv", "elevator", "internet"}  # amenities did not move
