"""The compiled complete-tree walk for batch prediction: bit-identical to scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mle_challenge.model.bulk import MAX_DEPTH, CompleteTrees
from mle_challenge.model.features import API_FEATURES
from mle_challenge.model.predictor import Predictor
from tests.unit.model.test_fastpath import _mixed_data

pytestmark = pytest.mark.unit


def _probe(X: np.ndarray) -> np.ndarray:
    probe = np.tile(X, (3, 1))
    probe[::7, 0] = 9  # a category the model never saw
    probe[::11, 0] = -1  # out of range: sklearn treats it as missing
    probe[::5, 0] = 300  # beyond any category code
    probe[::13, 2] = np.nan  # missing where training had none
    probe[::17, 1] = np.inf
    return probe


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("depth", [1, 3, 6])
def test_probabilities_are_bit_identical(classes: int, depth: int) -> None:
    X, y = _mixed_data(classes)
    model = HistGradientBoostingClassifier(
        categorical_features=[0], max_iter=40, max_depth=depth, random_state=0
    ).fit(X, y)
    probe = _probe(X)
    expected = model.predict_proba(probe)
    got = CompleteTrees(model).predict_proba(probe)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    # Odd sizes: rows that do not fill the last block, a single row, none.
    for rows in (1, 257, 0):
        np.testing.assert_array_equal(
            CompleteTrees(model).predict_proba(probe[:rows]), expected[:rows]
        )


def test_only_depth_limited_gradient_boosting_is_supported() -> None:
    X, y = _mixed_data(2)
    shallow = HistGradientBoostingClassifier(max_iter=3, max_depth=MAX_DEPTH).fit(X, y)
    deep = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=200, min_samples_leaf=1)
    assert CompleteTrees.supports(shallow)
    assert not CompleteTrees.supports(deep.fit(X, y))
    assert not CompleteTrees.supports(HistGradientBoostingClassifier())


def test_predictor_bulk_answers_like_the_pipeline(registered: Any) -> None:
    predictor = Predictor.load(registered.tag, fast_path=False)
    frame = registered.rows.loc[:, list(API_FEATURES)]
    bulk = predictor.predict_encoded(predictor.encode(frame))
    assert predictor._bulk, "the session's model (depth 6) should take the compiled walk"
    expected = predictor.pipeline.predict_proba(frame)
    np.testing.assert_array_equal(bulk.probabilities, predictor.predict_frame(frame).probabilities)
    assert bulk.labels == list(predictor.pipeline.predict(frame))
    assert bulk.probabilities.shape == expected.shape
