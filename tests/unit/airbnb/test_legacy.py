"""Models pickled before the encoding was declared still load and answer as they did."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from mle_challenge import CATEGORIES
from mle_challenge.airbnb.legacy import MIDTOWN, ListingFeatures
from mle_challenge.data.clean import clean_listings
from mle_challenge.data.synthetic import generate_listings
from mle_challenge.model.city import NYC_AREA
from mle_challenge.model.features import DeclaredFeatures, input_area, to_model_input
from mle_challenge.project import airbnb

pytestmark = pytest.mark.unit


class _Old:
    """Stands in for the old class while pickling: only its path and state are written."""


def _old_pickle(state: dict[str, object]) -> bytes:
    """The bytes an older version pickled a fitted ``ListingFeatures`` as: its class path
    (``mle_challenge.model.features.ListingFeatures``) and the attributes its fit set."""
    holder = _Old()
    holder.__dict__.update(state)
    # Protocol 2 names a class as text, `c<module>\\n<name>\\n`, which can be swapped.
    data = pickle.dumps(holder, protocol=2)
    here = f"c{__name__}\n_Old\n".encode()
    assert here in data
    return data.replace(here, b"cmle_challenge.model.features\nListingFeatures\n")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    raw = generate_listings(800, 2, city="nyc").astype(str).replace("", None)
    return clean_listings(raw).table


def _state_of_an_old_fit(features: DeclaredFeatures) -> dict[str, object]:
    """What the old ListingFeatures.fit left: the vocabularies, area, centre, scale, names."""
    keep = ("categories_", "area_", "centre_", "lon_scale_", "feature_names_out_")
    return {k: features.__dict__[k] for k in keep if k in features.__dict__}


def test_an_old_pickle_loads_and_encodes_as_the_declared_encoder(table: pd.DataFrame) -> None:
    """Check that the old class path unpickles to an encoder giving the same matrix as
    the Airbnb project's declared encoder fitted on the same rows."""
    X, y = to_model_input(table), table["category"].astype(str)
    declared = DeclaredFeatures.of(airbnb()).fit(X, y)
    old = pickle.loads(_old_pickle(_state_of_an_old_fit(declared)))
    assert isinstance(old, ListingFeatures) and isinstance(old, DeclaredFeatures)
    assert np.array_equal(old.transform(X), declared.transform(X), equal_nan=True)
    rows = X.iloc[:5]
    assert np.array_equal(
        old.encode({c: rows[c].tolist() for c in X.columns}), old.transform(rows), equal_nan=True
    )
    assert old.classes == CATEGORIES


def test_a_model_fitted_before_cities_were_learned_answers_as_it_did(table: pd.DataFrame) -> None:
    """A pickled NYC model of an older version has no area or peak: it keeps New York's box
    and the distance to Midtown it was trained with, so its answers do not change."""
    declared = DeclaredFeatures.of(airbnb()).fit(to_model_input(table), table["category"])
    state = _state_of_an_old_fit(declared)
    for learned in ("area_", "centre_", "lon_scale_"):
        del state[learned]
    old = pickle.loads(_old_pickle(state))
    assert input_area(old) == NYC_AREA and old.centre_ == MIDTOWN
    row = to_model_input(table.iloc[:1])
    distance = list(old.get_feature_names_out()).index("distance_to_price_peak")
    lat = row["latitude"].iloc[0] - MIDTOWN[0]
    lon = (row["longitude"].iloc[0] - MIDTOWN[1]) * 0.76
    assert old.transform(row)[0, distance] == pytest.approx(np.hypot(lat, lon))


def test_the_old_names_still_import() -> None:
    """Check that the moved names resolve from their old module (pickles and callers)."""
    from mle_challenge.model import features

    assert features.ListingFeatures is ListingFeatures
    assert features.BaselineFeatures.__module__ == "mle_challenge.airbnb.baseline"
    assert tuple(airbnb().fields) == features.API_FEATURES
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = features.Nothing
