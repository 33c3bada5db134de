"""Drift figures: PSI, the tests against a saved profile, and the field and window verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, ks_2samp

from mle_challenge.config import MonitorParams
from mle_challenge.monitoring import drift, profile
from mle_challenge.project import AIRBNB, load_project

pytestmark = pytest.mark.unit

_CONFUSION = [[40, 10, 0, 0], [10, 30, 10, 0], [0, 10, 20, 5], [0, 0, 5, 10]]


def _listings(rows: int, seed: int, latitude_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "accommodates": rng.integers(1, 7, rows),
            "room_type": rng.choice(["Entire home/apt", "Private room", "Shared room"], rows),
            "beds": rng.integers(1, 4, rows).astype(float),
            "bedrooms": rng.integers(1, 4, rows).astype(float),
            "bathrooms": rng.choice([1.0, 1.5, 2.0], rows),
            "neighbourhood": rng.choice(["Manhattan", "Brooklyn", "Queens", "Bronx"], rows),
            "tv": rng.integers(0, 2, rows),
            "elevator": rng.integers(0, 2, rows),
            "internet": rng.integers(0, 2, rows),
            "latitude": 40.7 + latitude_shift + rng.normal(0, 0.05, rows),
            "longitude": -73.9 + rng.normal(0, 0.05, rows),
        }
    )


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_move() -> None:
    """Check PSI's basic properties: 0 when nothing moved, larger for a larger move."""
    same = drift.psi(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    small = drift.psi(np.array([0.5, 0.5]), np.array([0.55, 0.45]))
    large = drift.psi(np.array([0.5, 0.5]), np.array([0.8, 0.2]))
    assert same == 0.0 and 0 < small < large
    assert np.isfinite(drift.psi(np.array([0.5, 0.5]), np.array([1.0, 0.0])))  # an empty bin


def test_ks_against_exact_counts_equals_scipy_on_the_samples() -> None:
    """Check that the KS statistic from a profile's counts equals scipy's two-sample KS on
    the raw samples (discrete values, ties everywhere)."""
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.integers(1, 9, 3000).astype(float))
    window = pd.Series(rng.integers(2, 10, 400).astype(float))
    entry = {"rows": len(reference), "missing": 0, **profile.field_distribution(reference)}
    d, p = drift.ks_against_profile(entry, window)
    expected = ks_2samp(reference, window)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p < 1e-6 and expected.pvalue < 1e-6


def test_ks_against_quantiles_is_close_to_scipy_for_continuous_values() -> None:
    """Check the 1,001-quantile approximation of a continuous field against scipy."""
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.normal(0, 1, 20000))
    window = pd.Series(rng.normal(0.1, 1, 800))
    entry = {"rows": len(reference), "missing": 0, **profile.field_distribution(reference)}
    assert "quantiles" in entry
    d, p = drift.ks_against_profile(entry, window)
    expected = ks_2samp(reference, window)
    assert d == pytest.approx(expected.statistic, abs=0.002)
    assert p == pytest.approx(expected.pvalue, rel=0.3)


def test_chi2_homogeneity_is_scipys() -> None:
    """Check the categorical test against scipy's contingency test, and empty columns."""
    reference, window = np.array([500.0, 300.0, 0.0, 200.0]), np.array([40.0, 40.0, 0.0, 20.0])
    statistic, p = drift.chi2_homogeneity(reference, window)
    expected = chi2_contingency(np.array([[500, 300, 200], [40, 40, 20]]), correction=False)
    assert statistic == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert drift.chi2_homogeneity(np.array([10.0, 0.0]), np.array([5.0, 0.0])) == (0.0, 1.0)


def test_numeric_bins_are_right_closed_deciles() -> None:
    """Check that a value equal to an edge falls in the bin that edge closes."""
    bins = profile.numeric_bins(pd.Series(np.arange(1, 101, dtype=float)))
    assert bins.edges[0] == pytest.approx(10.9)
    counts = bins.counts(pd.Series([bins.edges[0], bins.edges[0] + 1e-9, 1000.0, np.nan]))
    assert counts[0] == 1 and counts[1] == 1 and counts[-1] == 1 and counts.sum() == 3


def test_rare_and_unseen_categories_share_one_bin() -> None:
    """Check that categories under 1% of training, and ones never seen, count as (other)."""
    values = pd.Series(["A"] * 600 + ["B"] * 395 + ["C"] * 5)
    bins = profile.categorical_bins(values)
    assert bins.labels == ("A", "B", profile.OTHER)
    assert bins.counts(pd.Series(["A", "C", "Z", None])).tolist() == [1, 0, 2]


def test_the_profile_is_the_same_bytes_for_the_same_rows() -> None:
    """Check that building a profile twice gives the same file (the model's hash covers it)."""
    rows = _listings(2000, 3)
    first = profile.profile_bytes(profile.build_profile(rows, _CONFUSION))
    assert first == profile.profile_bytes(profile.build_profile(rows.copy(), _CONFUSION))
    built = profile.build_profile(rows, _CONFUSION)
    assert built["test_mix"] == {"Low": 50, "Mid": 50, "High": 35, "Lux": 15}
    assert built["test_predicted_mix"] == {"Low": 50, "Mid": 50, "High": 35, "Lux": 15}
    assert set(built["fields"]) == set(load_project(AIRBNB).fields)
    kinds = {name: entry["kind"] for name, entry in built["fields"].items()}
    assert {n for n, k in kinds.items() if k == "categorical"} == {
        "room_type",
        "neighbourhood",
        "tv",
        "elevator",
        "internet",
    }


def _window(rows: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    return rows.assign(price_category=(categories * len(rows))[: len(rows)])


def test_a_moved_field_drifts_and_a_still_one_does_not() -> None:
    """Check the field verdict: a latitude moved by 0.05 (one spread) drifts; a window from the
    same distribution drifts nowhere."""
    reference = profile.build_profile(_listings(5000, 0), _CONFUSION)
    mix = ["Low", "Low", "Mid", "Mid", "High", "Lux"] * 3
    params = MonitorParams()
    still = drift.input_drift(reference, _window(_listings(1000, 1), mix), params)
    assert not any(f.drifted for f in still.fields.values()) and not still.alarm
    moved = drift.input_drift(reference, _window(_listings(1000, 1, 0.05), mix), params)
    assert moved.fields["latitude"].drifted and moved.fields["latitude"].test == "ks"
    assert [name for name, f in moved.fields.items() if f.drifted] == ["latitude"]
    assert not moved.alarm  # one field of 11 is under max_drift_share


def test_a_small_window_is_measured_but_not_judged() -> None:
    """Check that a window under min_rows gets figures but never an alarm."""
    reference = profile.build_profile(_listings(5000, 0), _CONFUSION)
    shifted = _window(_listings(50, 1, 0.3).assign(room_type="Shared room"), ["Lux"])
    result = drift.input_drift(reference, shifted, MonitorParams(min_rows=200))
    assert result.drift_share > 0.1 and not result.judged and not result.alarm


def test_the_predicted_mix_is_compared_with_the_test_rows() -> None:
    """Check that answering Lux to everything is an alarm, and the test rows' mix is not."""
    reference = profile.build_profile(_listings(5000, 0), _CONFUSION)
    params = MonitorParams()
    same = ["Low"] * 10 + ["Mid"] * 10 + ["High"] * 7 + ["Lux"] * 3
    assert not drift.input_drift(reference, _window(_listings(900, 2), same), params).alarm
    result = drift.input_drift(reference, _window(_listings(900, 2), ["Lux"]), params)
    assert result.prediction_mix.shifted and result.alarm
    assert "predicted class mix" in result.reasons[0]
