"""The macro-F1 decision rule: tuned out of fold, applied the same way on every path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from mle_challenge.config import load_params
from mle_challenge.errors import ConfigError
from mle_challenge.model.decision import TunedDecision, best_alpha, decide, describe, prior_weights
from mle_challenge.model.features import API_FEATURES
from mle_challenge.model.predictor import Predictor
from mle_challenge.model.train import build_candidate

pytestmark = pytest.mark.unit


def _imbalanced(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # Overlapping classes of 60/25/10/5 %: argmax seldom answers the rare ones.
    X, y = make_classification(
        4000,
        n_features=6,
        n_informative=3,
        n_classes=4,
        weights=[0.6, 0.25, 0.1, 0.05],
        class_sep=0.6,
        flip_y=0,
        random_state=seed,
    )
    return X, np.array(["Low", "Mid", "High", "Lux"])[y]


def _model(folds: int = 3) -> TunedDecision:
    # Logistic regression's probabilities are calibrated on any amount of data, so the rule's
    # gain shows on a small sample (gradient boosting needs NYC's size for that: README).
    return TunedDecision(LogisticRegression(max_iter=500), folds=folds)


def test_weights_follow_the_prior() -> None:
    y = np.array(["a"] * 8 + ["b"] * 2)
    classes = np.array(["a", "b"])
    np.testing.assert_allclose(prior_weights(y, classes, 0.0), [1.0, 1.0])
    np.testing.assert_allclose(prior_weights(y, classes, 1.0), [1 / 0.8, 1 / 0.2])
    proba = np.array([[0.7, 0.3], [0.9, 0.1]])
    assert decide(proba, None).tolist() == [0, 0]
    assert decide(proba, prior_weights(y, classes, 1.0)).tolist() == [1, 0]


def test_alpha_zero_when_argmax_is_already_best() -> None:
    # Perfectly separated probabilities: any reweighting can only lose, and ties keep 0.
    y = np.array(["a"] * 90 + ["b"] * 10)
    proba = np.where(y[:, None] == np.array(["a", "b"]), 0.9, 0.1)
    assert best_alpha(proba, y, np.array(["a", "b"])) == 0.0


def test_tuned_rule_raises_macro_f1_on_unseen_rows() -> None:
    X, y = _imbalanced()
    train, test = slice(0, 3000), slice(3000, None)
    tuned = _model().fit(X[train], y[train])
    plain = LogisticRegression(max_iter=500).fit(X[train], y[train])
    # Probabilities are the inner model's, untouched; only the answer changes.
    np.testing.assert_array_equal(tuned.predict_proba(X[test]), plain.predict_proba(X[test]))
    assert tuned.alpha_ > 0
    answers = tuned.predict(X[test])
    assert (answers != plain.predict(X[test])).any()
    weighted = tuned.classes_[np.argmax(tuned.predict_proba(X[test]) * tuned.class_weights_, 1)]
    assert answers.tolist() == weighted.tolist()
    # 0.449 → 0.553 on this sample.
    assert f1_score(y[test], answers, average="macro") > 0.05 + f1_score(
        y[test], plain.predict(X[test]), average="macro"
    )
    assert describe(tuned)["alpha"] == tuned.alpha_
    assert describe(plain) == {"rule": "argmax of probabilities"}


def test_too_few_rows_of_a_class_is_a_clear_error() -> None:
    X, y = _imbalanced()
    y = y.copy()
    y[np.flatnonzero(y == "Lux")[2:]] = "High"  # two Lux rows left, five folds asked
    with pytest.raises(ConfigError, match=r"'Lux' has 2 training row\(s\).*decision: folds"):
        _model(folds=5).fit(X, y)


def test_candidate_spec_wraps_any_kind() -> None:
    for kind in ("hist_gradient_boosting", "baseline_random_forest"):
        pipeline = build_candidate({"kind": kind, "decision": {"folds": 4}})
        assert isinstance(pipeline.steps[-1][1], TunedDecision)
        assert pipeline.steps[-1][1].folds == 4
    plain = build_candidate({"kind": "hist_gradient_boosting"})
    assert not isinstance(plain.steps[-1][1], TunedDecision)


@pytest.mark.parametrize(
    ("decision", "message"), [("{folds: 1}", "folds"), ("{fold: 3}", "fold"), ("3", "decision")]
)
def test_invalid_decision_named(tmp_path: Path, decision: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(f"train: {{candidates: {{a: {{kind: x, decision: {decision}}}}}}}")
    with pytest.raises(ConfigError, match=r"params\.yaml") as info:
        load_params(path)
    assert message in str(info.value)


def test_every_predictor_path_answers_by_the_rule(registered: Any) -> None:
    """The session's model carries the rule: service, batch and sklearn must agree on it."""
    predictor = Predictor.load(registered.tag)
    final = predictor.pipeline.steps[-1][1]
    assert isinstance(final, TunedDecision)
    frame = registered.rows.loc[:, list(API_FEATURES)]
    expected = list(predictor.pipeline.predict(frame))
    records = frame.iloc[:20].to_dict("records")
    assert predictor.predict_records(records).labels == expected[:20]  # the fast path
    assert predictor.predict_frame(frame).labels == expected
    bulk = Predictor.load(registered.tag, fast_path=False)
    assert bulk.predict_encoded(bulk.encode(frame)).labels == expected  # the compiled walk
    assert predictor.summary()["decision"]["alpha"] == final.alpha_
