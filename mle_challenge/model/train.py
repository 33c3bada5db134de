"""Candidate models: build a scikit-learn pipeline from its spec and fit it."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.pipeline import Pipeline

from mle_challenge.errors import ConfigError
from mle_challenge.model.decision import TunedDecision, unwrap
from mle_challenge.model.features import DeclaredFeatures
from mle_challenge.project import Project, airbnb

# Candidate kinds that are a project's own code, found by name as a project's `prepare` is
# (the model layer does not import a project's code): `module:function`, called with the
# spec's params and the project, returning the features step and the estimator.
PROJECT_KINDS = {"baseline_random_forest": "mle_challenge.airbnb.baseline:baseline_random_forest"}


def _hist_gb(
    params: Mapping[str, Any], categorical: Sequence[int]
) -> HistGradientBoostingClassifier:
    """Gradient boosting with early stopping on unless the params say otherwise: scikit-learn's
    ``"auto"`` stops early only from 10,000 rows, so a smaller city's (or the demo's) every fit
    ran all ``max_iter`` rounds, ten times the work, where the refit and the docs assume the
    rounds were chosen."""
    settings = {"early_stopping": True, **params}
    # Which columns are category codes is the features step's to say (DeclaredFeatures: first).
    return HistGradientBoostingClassifier(categorical_features=list(categorical), **settings)


def _estimator(kind: str, params: Mapping[str, Any], categorical: Sequence[int]) -> Any:
    if kind == "hist_gradient_boosting":
        return _hist_gb(params, categorical)
    if kind == "extra_trees":
        return ExtraTreesClassifier(**params)
    if kind == "random_forest":
        return RandomForestClassifier(**params)
    if kind == "soft_vote":
        members = [
            (name, _estimator(m["kind"], m.get("params", {}), categorical))
            for name, m in params.items()
        ]
        return VotingClassifier(members, voting="soft")
    raise ConfigError(
        f"unknown candidate kind {kind!r}: expected one of baseline_random_forest, "
        "random_forest, hist_gradient_boosting, extra_trees, soft_vote (check params.yaml)."
    )


def build_candidate(spec: Mapping[str, Any], project: Project | None = None) -> Pipeline:
    """An unfitted pipeline from a params.yaml candidate spec ``{kind, params}``, for
    ``project``'s declared fields (default: the Airbnb project).

    A kind of :data:`PROJECT_KINDS` is the project's own code (``baseline_random_forest``: the
    data scientists' model on their five features); every other kind sees all the declared
    fields through :class:`DeclaredFeatures`.
    An optional ``decision: {folds: N}`` makes the model answer by the macro-F1 rule of
    :class:`~mle_challenge.model.decision.TunedDecision`, tuned on N folds of the training rows.
    """
    kind = str(spec.get("kind", ""))
    params = dict(spec.get("params", {}))
    project = project if project is not None else airbnb()
    if kind in PROJECT_KINDS:
        module, function = PROJECT_KINDS[kind].split(":")
        features, estimator = getattr(importlib.import_module(module), function)(params, project)
    else:
        features = DeclaredFeatures.of(project)
        estimator = _estimator(kind, params, features.categorical_indices)
    decision = spec.get("decision")
    if decision is not None:  # validated with params.yaml (config.DecisionSpec)
        estimator = TunedDecision(estimator, folds=int(decision.get("folds", 5)))
    return Pipeline([("features", features), ("model", estimator)])


def refit_candidate(
    fitted: Pipeline, X: pd.DataFrame, y: pd.Series, trained_rows: int
) -> tuple[Pipeline, dict[str, Any]]:
    """``fitted`` (trained on ``trained_rows`` rows) fitted again on ``X``, the training plus
    validation rows, and what changed.

    Same settings, except that a gradient-boosting model gets the rounds early stopping chose
    on the training rows, scaled to the larger set (from the rows it fitted them on: early
    stopping held out ``validation_fraction`` of them), with early stopping off: nothing is
    left to hold out. The decision rule (``TunedDecision``'s alpha and class weights) is kept as it
    was chosen on the training rows' folds.
    """
    features, final = fitted.steps[0][1], fitted.steps[-1][1]
    estimator, _ = unwrap(final)
    scale = len(X) / trained_rows
    fresh, rounds = _fixed_rounds(estimator, scale)
    with one_openmp_thread():
        model = Pipeline([("features", clone(features)), ("model", fresh)]).fit(X, y)
    refit: dict[str, Any] = {"rows": len(X), "trained_rows": trained_rows, "rounds": rounds}
    if isinstance(final, TunedDecision):
        model.steps[-1] = ("model", TunedDecision.with_rule(model.steps[-1][1], final))
    return model, refit


def _fixed_rounds(estimator: Any, scale: float) -> tuple[Any, dict[str, int] | None]:
    """An unfitted copy of ``estimator``; a boosting model's rounds fixed at what it used,
    times ``scale`` (members of a soft vote too). Also ``{before, after}`` rounds, if any."""
    fresh = clone(estimator)
    if isinstance(estimator, HistGradientBoostingClassifier):
        used = int(estimator.n_iter_)
        if estimator.do_early_stopping_:
            # Its rounds were fitted on the rows early stopping did not hold out.
            held = estimator.validation_fraction if estimator.validation_fraction else 0.0
            after = max(1, round(used * scale / (1.0 - held)))
        else:
            after = used
        fresh.set_params(max_iter=after, early_stopping=False)
        return fresh, {"before": used, "after": after}
    if isinstance(estimator, VotingClassifier):
        members = []
        for (name, _), member in zip(estimator.estimators, estimator.estimators_, strict=True):
            members.append((name, _fixed_rounds(member, scale)[0]))
        fresh.set_params(estimators=members)
    return fresh, None


def fit_candidate(
    spec: Mapping[str, Any], X: pd.DataFrame, y: pd.Series, project: Project | None = None
) -> Pipeline:
    """Fit the candidate on rows ``X`` of ``project``'s declared fields (default: the Airbnb
    project) and labels ``y``."""
    try:
        model = build_candidate(spec, project)
    except TypeError as exc:
        raise ConfigError(f"invalid parameters for candidate {spec.get('kind')!r}: {exc}") from exc
    with one_openmp_thread():
        return model.fit(X, y)


def one_openmp_thread() -> Any:
    """Gradient boosting fits on one OpenMP thread. Its threads wait for each other by
    spinning: on a busy machine (8 engineers' tests on 2 cores) a 40-round fit on 2,500 rows
    took 140 s of wall time and 16 s of CPU on two threads, 3 s and 0.3 s on one. The pipeline
    runs its candidates in parallel already (``--workers``), so both cores are used anyway."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")
