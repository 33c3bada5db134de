"""Candidate models: build a scikit-learn pipeline from its spec and fit it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.pipeline import Pipeline

from mle_challenge.errors import ConfigError
from mle_challenge.model.decision import TunedDecision
from mle_challenge.model.features import CATEGORICAL, BaselineFeatures, ListingFeatures


def _hist_gb(params: Mapping[str, Any]) -> HistGradientBoostingClassifier:
    # ListingFeatures puts the categorical codes first.
    return HistGradientBoostingClassifier(
        categorical_features=list(range(len(CATEGORICAL))), **params
    )


def _estimator(kind: str, params: Mapping[str, Any]) -> Any:
    if kind == "hist_gradient_boosting":
        return _hist_gb(params)
    if kind == "extra_trees":
        return ExtraTreesClassifier(**params)
    if kind == "random_forest":
        return RandomForestClassifier(**params)
    if kind == "soft_vote":
        members = [(name, _estimator(m["kind"], m.get("params", {}))) for name, m in params.items()]
        return VotingClassifier(members, voting="soft")
    raise ConfigError(
        f"unknown candidate kind {kind!r}: expected one of baseline_random_forest, "
        "random_forest, hist_gradient_boosting, extra_trees, soft_vote (check params.yaml)."
    )


def build_candidate(spec: Mapping[str, Any]) -> Pipeline:
    """An unfitted pipeline from a params.yaml candidate spec ``{kind, params}``.

    ``baseline_random_forest`` is the data scientists' model on their five features;
    every other kind sees all eleven ``/classify`` fields through :class:`ListingFeatures`.
    An optional ``decision: {folds: N}`` makes the model answer by the macro-F1 rule of
    :class:`~mle_challenge.model.decision.TunedDecision`, tuned on N folds of the training rows.
    """
    kind = str(spec.get("kind", ""))
    params = dict(spec.get("params", {}))
    if kind == "baseline_random_forest":
        features: Any = BaselineFeatures()
        estimator = RandomForestClassifier(**params)
    else:
        features, estimator = ListingFeatures(), _estimator(kind, params)
    decision = spec.get("decision")
    if decision is not None:  # validated with params.yaml (config.DecisionSpec)
        estimator = TunedDecision(estimator, folds=int(decision.get("folds", 5)))
    return Pipeline([("features", features), ("model", estimator)])


def fit_candidate(spec: Mapping[str, Any], X: pd.DataFrame, y: pd.Series) -> Pipeline:
    """Fit the candidate on API-shaped rows ``X`` and category labels ``y``."""
    try:
        model = build_candidate(spec)
    except TypeError as exc:
        raise ConfigError(f"invalid parameters for candidate {spec.get('kind')!r}: {exc}") from exc
    return model.fit(X, y)
