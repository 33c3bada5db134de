"""The one definition of the model's inputs, saved inside every model as a scikit-learn step.

Training, evaluation, batch prediction and the service all hand the model a DataFrame whose
columns are the ``/classify`` fields (:data:`API_FEATURES`); the encoding lives in the fitted
pipeline, so training and serving cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mle_challenge.model.city import (
    MIDTOWN,
    NYC_AREA,
    Area,
    learn_area,
    neighbourhood_order,
    price_peak,
)

API_FEATURES: tuple[str, ...] = (
    "accommodates",
    "room_type",
    "beds",
    "bedrooms",
    "bathrooms",
    "neighbourhood",
    "tv",
    "elevator",
    "internet",
    "latitude",
    "longitude",
)
CATEGORICAL: tuple[str, ...] = ("room_type", "neighbourhood")
NUMERIC: tuple[str, ...] = tuple(c for c in API_FEATURES if c not in CATEGORICAL)

# The clean table keeps the notebook's flag names; the API uses lower case.
_CLEAN_TO_API = {"TV": "tv", "Elevator": "elevator", "Internet": "internet"}
API_FLAGS: tuple[str, ...] = tuple(_CLEAN_TO_API)  # the amenity flags the model takes

# The data scientists' features and their hand-made ordinal codes, kept for the baseline.
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

_ANGLES = (15, 30, 45, 60, 75)  # rotated axes let axis-aligned trees cut diagonal borders
_COS = tuple(float(np.cos(np.radians(a))) for a in _ANGLES)
_SIN = tuple(float(np.sin(np.radians(a))) for a in _ANGLES)


def to_model_input(clean: pd.DataFrame) -> pd.DataFrame:
    """The model's input frame, API-named, from the clean table (or API-shaped rows)."""
    frame = clean.rename(columns=_CLEAN_TO_API)
    missing = [c for c in API_FEATURES if c not in frame.columns]
    if missing:
        raise KeyError(f"model input is missing column(s): {', '.join(missing)}")
    return frame.loc[:, list(API_FEATURES)].reset_index(drop=True)


def example_listing(clean: pd.DataFrame) -> dict[str, Any]:
    """A typical real listing of the clean table, as a ``/classify`` request: every field
    filled, of the commonest room type and neighbourhood, of median size (the lowest id among
    equals, so the same rows give the same example)."""
    rows = to_model_input(clean).assign(id=clean["id"].to_numpy())
    complete = rows.dropna()
    if complete.empty:
        complete = rows
    for column in CATEGORICAL:
        common = complete[column].astype(str).value_counts()
        top = sorted(common[common == common.max()].index)[0]
        complete = complete[complete[column].astype(str) == top]
    gap = (complete["accommodates"] - complete["accommodates"].median()).abs()
    row = complete.assign(_gap=gap).sort_values(["_gap", "id"]).iloc[0]
    example: dict[str, Any] = {"id": int(row["id"])}
    for column in API_FEATURES:
        value = row[column]
        if pd.isna(value):
            example[column] = None
        elif column in CATEGORICAL:
            example[column] = str(value)
        elif column in ("latitude", "longitude"):
            example[column] = round(float(value), 5)
        else:
            number = float(value)
            example[column] = int(number) if number.is_integer() else number
    return example


class ListingFeatures(TransformerMixin, BaseEstimator):
    """API-shaped listings → numeric matrix for tree models.

    Categories are coded by the vocabulary seen in ``fit`` (unknown → NaN, which the
    gradient-boosting model treats as missing); location adds the distance to where the
    training prices peak and rotated coordinates; size adds guests per bedroom, beds per guest,
    baths per bedroom. The first ``len(CATEGORICAL)`` output columns are the categorical codes.
    ``fit`` also learns the area the model accepts (:func:`input_area`).
    """

    # Models fitted before the city was learned were NYC's, with Midtown as their centre.
    area_: Area = NYC_AREA
    centre_: tuple[float, float] = MIDTOWN
    lon_scale_: float = 0.76

    def fit(self, X: pd.DataFrame, y: Any = None) -> ListingFeatures:
        self.categories_ = {c: sorted(X[c].dropna().astype(str).unique()) for c in CATEGORICAL}
        self.area_ = learn_area(X["latitude"], X["longitude"])
        self.centre_ = price_peak(X["latitude"], X["longitude"], y)
        # Makes a degree of longitude as long as one of latitude, at this city's latitude.
        self.lon_scale_ = round(float(np.cos(np.radians(self.centre_[0]))), 4)
        self.feature_names_out_ = np.array(
            [*CATEGORICAL, *NUMERIC, "distance_to_price_peak"]
            + [f"rotated_{a}" for a in _ANGLES]
            + ["guests_per_bedroom", "beds_per_guest", "baths_per_bedroom"]
        )
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.encode({c: X[c] for c in API_FEATURES})

    def encode(self, columns: Mapping[str, Any]) -> np.ndarray:
        """The feature matrix from API-named column arrays (the one definition of the encoding).

        ``transform`` feeds it DataFrame columns; the service feeds it request fields directly,
        skipping pandas, which costs more than the model on a single row.
        """
        codes = [self._codes(c, columns[c]) for c in CATEGORICAL]
        num = {c: np.asarray(columns[c], dtype=float) for c in NUMERIC}
        lat = num["latitude"] - self.centre_[0]
        lon = (num["longitude"] - self.centre_[1]) * self.lon_scale_
        rotated = [lat * _COS[i] + lon * _SIN[i] for i in range(len(_ANGLES))]
        guests = num["accommodates"]
        bedrooms = np.maximum(num["bedrooms"], 1.0)
        ratios = [
            guests / bedrooms,
            num["beds"] / np.maximum(guests, 1.0),
            num["bathrooms"] / bedrooms,
        ]
        parts = [*codes, *num.values(), np.hypot(lat, lon), *rotated, *ratios]
        # Column-major: each feature is one contiguous write (np.column_stack's row-major
        # copy was a third of encoding's time on 100,000 rows); readers take either layout.
        matrix = np.empty((len(guests), len(parts)), order="F")
        for j, part in enumerate(parts):
            matrix[:, j] = part
        return matrix

    def _codes(self, column: str, values: Any) -> np.ndarray:
        vocabulary = self.categories_[column]
        if len(values) > 64:  # pandas' hash join wins on large inputs, a dict on small ones
            # Cells compare as text; missing ones (and unknown ones) get no code.
            text = pd.Series(values, copy=False).astype("string")
            found = pd.Categorical(text, categories=vocabulary).codes
            return np.where(found < 0, np.nan, found.astype(float))
        # Built once per fitted model (the service calls this on every request), not per call.
        positions = self.__dict__.setdefault("_positions", {})
        if column not in positions:
            positions[column] = {name: float(i) for i, name in enumerate(vocabulary)}
        position = positions[column]
        return np.array([position.get(str(v), np.nan) for v in np.asarray(values)], dtype=float)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_out_


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


def input_categories(model: Any) -> dict[str, list[str]]:
    """The room types and neighbourhoods a fitted pipeline knows, for the API's enums."""
    features = model.steps[0][1] if hasattr(model, "steps") else model
    if isinstance(features, ListingFeatures):
        return {c: list(features.categories_[c]) for c in CATEGORICAL}
    if isinstance(features, BaselineFeatures):
        return {
            "room_type": sorted(BASELINE_ROOM_TYPES),
            "neighbourhood": sorted(features.neighbourhoods_),
        }
    raise TypeError(f"cannot tell the input categories of {type(features).__name__}")


def input_area(model: Any) -> Area:
    """The coordinates a fitted pipeline accepts: its training listings' box, with a margin."""
    features = model.steps[0][1] if hasattr(model, "steps") else model
    if isinstance(features, ListingFeatures | BaselineFeatures):
        return features.area_
    raise TypeError(f"cannot tell the input area of {type(features).__name__}")
