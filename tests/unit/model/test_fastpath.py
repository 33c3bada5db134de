"""The exact fast path: bit-identical to scikit-learn, on every kind of input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

from mle_challenge.model.fastpath import CompiledBoosting
from mle_challenge.model.features import API_FEATURES
from mle_challenge.model.predictor import FAST_PATH_MAX_ROWS, Predictor

pytestmark = pytest.mark.unit


def _mixed_data(classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        800, n_features=6, n_informative=4, n_classes=classes, random_state=seed
    )
    rng = np.random.default_rng(seed)
    X[:, 0] = rng.integers(0, 5, len(X))  # categorical codes, as ListingFeatures writes them
    X[rng.random(len(X)) < 0.1, 1] = np.nan  # missing numbers
    X[rng.random(len(X)) < 0.05, 0] = np.nan  # missing categories
    return X, y


@pytest.mark.parametrize("classes", [2, 4])
def test_probabilities_are_bit_identical(classes: int) -> None:
    X, y = _mixed_data(classes)
    model = HistGradientBoostingClassifier(
        categorical_features=[0], max_iter=30, random_state=0
    ).fit(X, y)
    probe = X.copy()
    probe[::7, 0] = 9  # a category the model never saw
    probe[::11, 0] = -1  # out of range: sklearn treats it as missing
    probe[::13, 2] = np.nan  # missing where training had none
    expected = model.predict_proba(probe)
    got = CompiledBoosting(model).predict_proba(probe)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_supports_only_fitted_gradient_boosting() -> None:
    X, y = _mixed_data(2)
    assert not CompiledBoosting.supports(HistGradientBoostingClassifier())
    assert CompiledBoosting.supports(HistGradientBoostingClassifier(max_iter=3).fit(X, y))


def _records(rows: pd.DataFrame) -> list[dict[str, object]]:
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows.to_dict("records")]


def test_predictor_answers_like_the_pipeline(registered) -> None:
    predictor = Predictor.load(registered.tag)
    assert predictor.fast_path
    rows = registered.rows.iloc[:FAST_PATH_MAX_ROWS]
    fast = predictor.predict_records(_records(rows))
    frame = rows.loc[:, list(API_FEATURES)]
    assert fast.labels == list(predictor.pipeline.predict(frame))
    order = [list(predictor.pipeline.classes_).index(c) for c in predictor.classes]
    np.testing.assert_array_equal(
        fast.probabilities, predictor.pipeline.predict_proba(frame)[:, order]
    )


def test_large_batches_and_other_models_use_sklearn(registered) -> None:
    predictor = Predictor.load(registered.tag)
    rows = registered.rows.iloc[: FAST_PATH_MAX_ROWS + 10]
    big = predictor.predict_records(_records(rows))
    assert big.labels == list(predictor.pipeline.predict(rows.loc[:, list(API_FEATURES)]))
    baseline = Predictor.load(registered.baseline_tag)
    assert not baseline.fast_path
    answer = baseline.predict_records(_records(rows.iloc[:3]))
    assert answer.labels == list(
        baseline.pipeline.predict(rows.iloc[:3].loc[:, list(API_FEATURES)])
    )
    np.testing.assert_allclose(answer.probabilities.sum(axis=1), 1.0)


def test_unknown_category_is_answered_not_refused(registered) -> None:
    # The API refuses unknown categories; the predictor itself (batch prediction) encodes
    # them as missing, exactly as the pipeline does.
    predictor = Predictor.load(registered.tag)
    row = _records(registered.rows.iloc[:1])[0] | {"neighbourhood": "Atlantis"}
    frame = pd.DataFrame([row]).loc[:, list(API_FEATURES)]
    assert predictor.predict_records([row]).labels == list(predictor.pipeline.predict(frame))
