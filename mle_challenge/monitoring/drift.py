"""Input drift: a window of served listings against the model's reference profile.

Each field gets two figures, because each alone misleads at one end of the window's size:

- the population stability index (PSI) says how far the distribution moved, whatever the
  window's size; but on a small window chance alone gives a large PSI (about
  ``(bins - 1) / rows``, reported as ``psi_noise``);
- a test says whether the move is more than chance for this window's size: two-sample
  Kolmogorov-Smirnov for numbers, chi-square of homogeneity for categories. But on a large
  window it rejects moves too small to matter.

So a field *drifts* when both agree: its PSI reaches ``monitor.psi`` and its test's p-value is
below ``monitor.p_value``. The window *drifts* when the share of drifted fields reaches
``monitor.max_drift_share``, or when the classes the model answers with moved as far from
those it answered with on its test rows. Windows under ``monitor.min_rows`` are measured and
reported but not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.config import MonitorParams
from mle_challenge.monitoring.profile import Bins, category_text

_EPSILON = 1e-4  # a bin empty on one side counts as this share, so PSI stays finite


@dataclass(frozen=True)
class FieldDrift:
    field: str
    test: str  # "ks" or "chi2"
    statistic: float
    p_value: float
    psi: float
    psi_noise: float  # PSI expected from chance alone at these sizes
    drifted: bool
    labels: list[str]
    reference: list[float]  # shares per bin
    window: list[float]


@dataclass(frozen=True)
class MixShift:
    """The classes the model answered with in the window against those on its test rows."""

    reference: dict[str, float]
    window: dict[str, float]
    psi: float
    p_value: float
    shifted: bool


@dataclass(frozen=True)
class InputDrift:
    rows: int
    judged: bool  # False when the window is smaller than monitor.min_rows
    fields: dict[str, FieldDrift]
    drift_share: float
    prediction_mix: MixShift
    alarm: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(reference: np.ndarray, window: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    r = np.clip(np.asarray(reference, dtype=float), _EPSILON, None)
    w = np.clip(np.asarray(window, dtype=float), _EPSILON, None)
    return float(np.sum((w - r) * np.log(w / r)))


def psi_noise(bins: int, rows: int, reference_rows: int) -> float:
    """PSI's expected value between two samples of one distribution: ``bins - 1`` degrees
    of freedom of a chi-square, scaled by both sample sizes."""
    return float(max(bins - 1, 0) * (1 / max(rows, 1) + 1 / max(reference_rows, 1)))


def chi2_homogeneity(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Chi-square test that two count vectors come from one distribution: (statistic, p)."""
    from scipy.stats import chi2_contingency

    table = np.vstack([reference, window]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


def ks_against_profile(entry: Mapping[str, Any], values: pd.Series) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov of ``values`` against a profile's numeric distribution:
    (D, p). The reference side is the profile's exact counts or its 1,001 quantiles."""
    from scipy.stats import kstwo

    window = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
    reference_rows = int(entry["rows"]) - int(entry["missing"])
    if len(window) == 0 or reference_rows <= 0:
        return 0.0, 1.0
    if "values" in entry:
        points_ref = np.asarray(entry["values"], dtype=float)
        cumulative = np.cumsum(np.asarray(entry["counts"], dtype=float)) / reference_rows
        points = np.union1d(points_ref, window)
        right = np.searchsorted(points_ref, points, side="right")
        left = np.searchsorted(points_ref, points, side="left")
        ref_right = np.where(right > 0, cumulative[np.maximum(right - 1, 0)], 0.0)
        ref_left = np.where(left > 0, cumulative[np.maximum(left - 1, 0)], 0.0)
    else:
        quantiles = np.asarray(entry["quantiles"], dtype=float)
        probabilities = np.linspace(0, 1, len(quantiles))
        points = np.union1d(quantiles, window)
        ref_right = ref_left = np.interp(points, quantiles, probabilities, left=0.0, right=1.0)
    win_right = np.searchsorted(window, points, side="right") / len(window)
    win_left = np.searchsorted(window, points, side="left") / len(window)
    d = float(max(np.max(np.abs(ref_right - win_right)), np.max(np.abs(ref_left - win_left))))
    effective = len(window) * reference_rows / (len(window) + reference_rows)
    return d, float(kstwo.sf(d, max(1, round(effective))))


def field_drift(
    name: str, entry: Mapping[str, Any], values: pd.Series, params: MonitorParams
) -> FieldDrift:
    bins = Bins.from_dict(entry["bins"])
    reference_counts = np.asarray(entry["bin_counts"], dtype=float)
    window_counts = bins.counts(values)
    reference_shares = reference_counts / max(reference_counts.sum(), 1)
    window_shares = window_counts / max(window_counts.sum(), 1)
    if entry["kind"] == "numeric":
        test = "ks"
        statistic, p_value = ks_against_profile(entry, values)
    else:
        test = "chi2"
        counts = entry["counts"]
        # Every category on its own for the test, rare ones included: the bins serve PSI only.
        categories = sorted(set(counts) | set(values.dropna().map(category_text)))
        found = values.dropna().map(category_text).value_counts()
        statistic, p_value = chi2_homogeneity(
            np.array([counts.get(c, 0) for c in categories], dtype=float),
            np.array([found.get(c, 0) for c in categories], dtype=float),
        )
    shift = psi(reference_shares, window_shares)
    return FieldDrift(
        field=name,
        test=test,
        statistic=round(statistic, 6),
        p_value=float(f"{p_value:.6g}"),
        psi=round(shift, 6),
        psi_noise=round(
            psi_noise(int((reference_counts > 0).sum()), len(values), int(entry["rows"])), 6
        ),
        drifted=bool(shift >= params.psi and p_value < params.p_value),
        labels=list(bins.labels),
        reference=[round(float(s), 6) for s in reference_shares],
        window=[round(float(s), 6) for s in window_shares],
    )


def mix_shift(profile: Mapping[str, Any], predicted: pd.Series, params: MonitorParams) -> MixShift:
    classes = list(profile.get("classes", CATEGORIES))
    reference = np.array([profile["test_predicted_mix"].get(c, 0) for c in classes], float)
    found = predicted.astype(str).value_counts()
    window = np.array([found.get(c, 0) for c in classes], dtype=float)
    _, p_value = chi2_homogeneity(reference, window)
    ref_shares = reference / max(reference.sum(), 1)
    win_shares = window / max(window.sum(), 1)
    shift = psi(ref_shares, win_shares)
    return MixShift(
        reference={c: round(float(s), 6) for c, s in zip(classes, ref_shares, strict=True)},
        window={c: round(float(s), 6) for c, s in zip(classes, win_shares, strict=True)},
        psi=round(shift, 6),
        p_value=float(f"{p_value:.6g}"),
        shifted=bool(shift >= params.max_prediction_psi and p_value < params.p_value),
    )


def input_drift(
    profile: Mapping[str, Any], window: pd.DataFrame, params: MonitorParams
) -> InputDrift:
    """Drift of ``window`` (the model's fields and ``price_category``) against ``profile``:
    every field the profile holds, which are the fields the model was declared with."""
    order = profile.get("order") or list(profile["fields"])
    fields = {
        name: field_drift(name, profile["fields"][name], window[name], params) for name in order
    }
    drifted = [name for name, f in fields.items() if f.drifted]
    share = len(drifted) / len(fields)
    mix = mix_shift(profile, window["price_category"], params)
    judged = len(window) >= params.min_rows
    reasons: list[str] = []
    if judged and share >= params.max_drift_share:
        reasons.append(
            f"{len(drifted)} of {len(fields)} input fields drifted ({', '.join(drifted)}): "
            f"share {share:.2f} ≥ monitor.max_drift_share {params.max_drift_share}"
        )
    if judged and mix.shifted:
        reasons.append(
            f"the predicted class mix moved from the test rows' (PSI {mix.psi:.3f} ≥ "
            f"monitor.max_prediction_psi {params.max_prediction_psi})"
        )
    return InputDrift(
        rows=len(window),
        judged=judged,
        fields=fields,
        drift_share=round(share, 6),
        prediction_mix=mix,
        alarm=bool(reasons),
        reasons=reasons,
    )
