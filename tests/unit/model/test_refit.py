"""The chosen candidate fitted again on training plus validation rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mle_challenge.data.clean import clean_listings
from mle_challenge.data.synthetic import generate_listings
from mle_challenge.model.decision import TunedDecision
from mle_challenge.model.features import to_model_input
from mle_challenge.model.train import fit_candidate, refit_candidate

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, pd.Series]:
    clean = clean_listings(generate_listings(4_000, 3)).table
    return to_model_input(clean), clean["category"].astype(str).reset_index(drop=True)


def test_early_stopping_rounds_are_scaled_and_the_decision_rule_kept(
    rows: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = rows
    train = 2_500
    spec = {
        "kind": "hist_gradient_boosting",
        # on by itself above 10,000 rows ("auto"), as on NYC
        "params": {"max_iter": 400, "learning_rate": 0.3, "early_stopping": True,
                   "random_state": 0},
        "decision": {"folds": 2},
    }  # fmt: skip
    fitted = fit_candidate(spec, X.iloc[:train], y.iloc[:train])
    used = fitted.steps[-1][1].estimator_.n_iter_
    assert used < 400  # early stopping chose the rounds

    model, refit = refit_candidate(fitted, X, y, trained_rows=train)
    after = round(used * len(X) / (train * 0.9))  # early stopping held out 10% of train
    assert refit == {"rows": len(X), "trained_rows": train,
                     "rounds": {"before": used, "after": after}}  # fmt: skip
    final = model.steps[-1][1]
    assert isinstance(final, TunedDecision)
    assert final.estimator_.n_iter_ == after and not final.estimator_.early_stopping
    assert final.alpha_ == fitted.steps[-1][1].alpha_
    np.testing.assert_array_equal(final.class_weights_, fitted.steps[-1][1].class_weights_)
    assert set(model.predict(X.iloc[:50])) <= set(y)


def test_a_model_without_rounds_is_fitted_again_with_its_settings(
    rows: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = rows
    spec = {"kind": "random_forest", "params": {"n_estimators": 10, "random_state": 0}}
    fitted = fit_candidate(spec, X.iloc[:2000], y.iloc[:2000])
    model, refit = refit_candidate(fitted, X, y, trained_rows=2000)
    assert refit["rounds"] is None and refit["rows"] == len(X)
    assert model.steps[-1][1].get_params() == fitted.steps[-1][1].get_params()


def test_the_params_gradient_boosting_stops_early_below_ten_thousand_rows(
    rows: tuple[pd.DataFrame, pd.Series],
) -> None:
    """scikit-learn's early_stopping="auto" is off under 10,000 rows: the demo's 3,600 training
    rows ran all 600 rounds in each of the six fits, where params.yaml promised about 70."""
    from mle_challenge.config import load_params
    from mle_challenge.model.train import build_candidate

    spec = load_params("params.yaml").train.candidates["hist_gb"].model_dump(exclude_none=True)
    assert spec["params"]["early_stopping"] is True
    X, y = rows
    plain = {k: v for k, v in spec.items() if k != "decision"}  # one fit, not six
    fitted = fit_candidate(plain, X.iloc[:3_000], y.iloc[:3_000])
    assert fitted.steps[-1][1].n_iter_ < spec["params"]["max_iter"] // 2
    # A params file that does not say: on as well, at any size.
    unsaid = build_candidate({"kind": "hist_gradient_boosting", "params": {"max_iter": 10}})
    assert unsaid.steps[-1][1].early_stopping is True
