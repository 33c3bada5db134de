"""The data scientists' baseline: their random forest on their five features, with their
ordinal codes. Named in a project file as the candidate kind ``baseline_random_forest``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier

from mle_challenge import CATEGORIES
from mle_challenge.model.city import NYC_AREA, Area, learn_area
from mle_challenge.project import Project

BASELINE_FEATURES: tuple[str, ...] = (
    "neighbourhood",
    "room_type",
    "accommodates",
    "bathrooms",
    "bedrooms",
)
# What models fitted before these were learned used (BaselineFeatures.neighbourhoods_ learns
# the order, which on NYC is this one).
BASELINE_NEIGHBOURHOODS = ("Bronx", "Queens", "Staten Island", "Brooklyn", "Manhattan")
BASELINE_ROOM_TYPES = ("Shared room", "Private room", "Entire home/apt", "Hotel room")


def neighbourhood_order(neighbourhoods: Any, labels: Any) -> list[str]:
    """Neighbourhoods from cheapest to dearest by their listings' mean category rank (ties by
    name). On NYC's boroughs this is the notebook's hand-made order: Bronx, Queens, Staten
    Island, Brooklyn, Manhattan."""
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    frame = pd.DataFrame(
        {
            "name": pd.Series(neighbourhoods, dtype="string").to_numpy(),
            "rank": pd.Series(labels, dtype="string").map(rank).to_numpy(dtype=float),
        }
    ).dropna()
    means = frame.groupby("name")["rank"].mean()
    return [str(n) for n, _ in sorted(means.items(), key=lambda kv: (kv[1], kv[0]))]


class BaselineFeatures(TransformerMixin, BaseEstimator):
    """The notebook's five features with its ordinal codes: neighbourhoods 1..n from cheapest
    to dearest (learned; on NYC the notebook's Bronx = 1 ... Manhattan = 5), room types 1–4."""

    area_: Area = NYC_AREA
    neighbourhoods_: tuple[str, ...] = BASELINE_NEIGHBOURHOODS

    def fit(self, X: pd.DataFrame, y: Any = None) -> BaselineFeatures:
        self.area_ = learn_area(X["latitude"], X["longitude"])
        if y is not None:
            self.neighbourhoods_ = tuple(neighbourhood_order(X["neighbourhood"], y))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        # Stateless, so it has no fitted attributes by which scikit-learn could tell; without
        # this, the features step alone (batch prediction's encoding) refused to transform.
        return True

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        hood = {name: i + 1 for i, name in enumerate(self.neighbourhoods_)}
        room = {name: i + 1 for i, name in enumerate(BASELINE_ROOM_TYPES)}
        return np.column_stack(
            [
                X["neighbourhood"].map(hood).fillna(0).to_numpy(dtype=float),
                X["room_type"].map(room).fillna(0).to_numpy(dtype=float),
                X.loc[:, ["accommodates", "bathrooms", "bedrooms"]].to_numpy(dtype=float),
            ]
        )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(BASELINE_FEATURES)

    def input_categories(self) -> dict[str, list[str]]:
        """The room types it codes and the neighbourhoods it ranked."""
        return {
            "room_type": sorted(BASELINE_ROOM_TYPES),
            "neighbourhood": sorted(self.neighbourhoods_),
        }


def baseline_random_forest(
    params: Mapping[str, Any], project: Project
) -> tuple[BaselineFeatures, RandomForestClassifier]:
    """The candidate kind ``baseline_random_forest``: the notebook's features and forest.
    ``project`` is unused: the notebook's five fields are fixed."""
    return BaselineFeatures(), RandomForestClassifier(**params)
