"""The encoding derived from a project's declared fields: by kind, for any project."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mle_challenge.model.features import (
    DeclaredFeatures,
    input_area,
    input_categories,
    to_model_input,
)
from mle_challenge.model.train import build_candidate, fit_candidate
from mle_challenge.project import Project, parse_project

pytestmark = pytest.mark.unit


def _project(located: bool) -> Project:
    """A small flat-rent project: a number before two categories, a ratio, maybe a place."""
    place = {"lat": "latitude", "lon": "longitude"} if located else {}
    return parse_project(
        {
            "name": "rent",
            "sources": "rent.csv",
            "id": "flat",
            "target": {
                "name": "band",
                "task": "classification",
                "column": "band",
                "classes": ["cheap", "dear"],
            },
            "fields": {
                "area": "number",
                "district": "category",
                "rooms": "count",
                **place,
                "heating": "category",
                "balcony": "flag",
            },
            "features": {"ratios": {"area_per_room": ["area", "rooms"]}},
            "serving": {"route": "predict", "model_name": "rent"},
            "train": {"candidates": {"gb": {"kind": "hist_gradient_boosting"}}},
        }
    )


def _rows(n: int = 120) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {
            "flat": np.arange(n),
            "heating": rng.choice(["gas", "oil", "heat pump"], n),
            "area": rng.uniform(20, 120, n).round(1),
            "district": rng.choice(["north", "south"], n),
            "rooms": rng.integers(0, 5, n),
            "lat": rng.normal(47.37, 0.02, n),
            "lon": rng.normal(8.54, 0.02, n),
            "balcony": rng.integers(0, 2, n),
        }
    )
    return rows, pd.Series(np.where(rows["area"] > 70, "dear", "cheap"))


def test_the_matrix_follows_the_declared_kinds() -> None:
    """Check the column order: categories first, then numbers in declared order, the place
    features with a latitude and a longitude, then the declared ratios (floored at 1)."""
    rows, y = _rows()
    project = _project(located=True)
    X = to_model_input(rows, project)
    assert list(X.columns) == list(project.fields)
    features = DeclaredFeatures.of(project).fit(X, y)
    names = list(features.get_feature_names_out())
    assert names[:5] == ["district", "heating", "area", "rooms", "lat"]
    assert names[6:8] == ["balcony", "distance_to_price_peak"]
    assert names[-1] == "area_per_room" and len(names) == 2 + 5 + 6 + 1
    matrix = features.transform(X)
    assert np.allclose(matrix[:, -1], X["area"] / np.maximum(X["rooms"], 1))
    assert set(matrix[:, 1]) == {0.0, 1.0, 2.0}  # gas, heat pump, oil: sorted vocabulary
    # The dearest class's rows' median place: its distance is 0 there.
    assert features.centre_ == (
        round(float(X.loc[y == "dear", "lat"].median()), 5),
        round(float(X.loc[y == "dear", "lon"].median()), 5),
    )
    assert input_categories(features) == {
        "district": ["north", "south"],
        "heating": ["gas", "heat pump", "oil"],
    }
    assert input_area(features).contains(X["lat"], X["lon"]).all()


def test_the_request_path_encodes_as_transform() -> None:
    """Check that ``encode`` on plain lists (the service's path) equals ``transform``,
    unknown levels and missing numbers included."""
    rows, y = _rows()
    project = _project(located=True)
    features = DeclaredFeatures.of(project).fit(to_model_input(rows, project), y)
    some = to_model_input(rows.iloc[:4], project).astype(object)
    some.loc[0, "heating"], some.loc[1, "area"] = "coal", None
    lists = {c: some[c].tolist() for c in some.columns}
    assert np.array_equal(features.encode(lists), features.transform(some), equal_nan=True)
    assert np.isnan(features.encode(lists)[0, 1])


def test_no_place_no_place_features_and_the_estimator_learns_the_categories() -> None:
    """Check a project without coordinates: no area, no location features, and gradient
    boosting told its categorical columns by the encoder."""
    rows, y = _rows()
    project = _project(located=False)
    X = to_model_input(rows, project)
    model = fit_candidate(
        {"kind": "hist_gradient_boosting", "params": {"max_iter": 5}}, X, y, project
    )
    features, estimator = model.steps[0][1], model.steps[-1][1]
    assert list(features.get_feature_names_out()) == [
        "district",
        "heating",
        "area",
        "rooms",
        "balcony",
        "area_per_room",
    ]
    assert estimator.categorical_features == features.categorical_indices == [0, 1]
    with pytest.raises(TypeError, match="no latitude and longitude"):
        input_area(model)
    unfitted = build_candidate({"kind": "hist_gradient_boosting"}, project)
    assert unfitted.steps[0][1].fields[0] == ("area", "number")


def test_a_missing_field_is_named() -> None:
    """Check that rows without a declared field fail naming it and saying what is needed."""
    rows, _ = _rows()
    with pytest.raises(KeyError, match="missing declared field\\(s\\): rooms, balcony"):
        to_model_input(rows.drop(columns=["rooms", "balcony"]), _project(located=False))
