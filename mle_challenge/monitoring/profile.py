"""A model's reference profile: what its training rows looked like, saved beside the model.

Drift is measured against this, not against the training file, which may be gone or far away
by the time a model has served for months. For each declared field (the project's) it keeps:

- the shares of a few bins (reference deciles for numbers, the frequent values for categories),
  which the population stability index compares;
- how many values were missing. Training rows may have every value filled while the service
  accepts nullable fields without one (the Airbnb project's sizes), so missing values are
  reported beside the bins rather than in them: in a bin they would make every window look drifted;
- for numbers, the distribution itself (every distinct value with its count, or 1,001
  quantiles when there are many), which the Kolmogorov-Smirnov test compares;
- for categories, every value's count, which the chi-square test compares.

And the classes: their mix on the test rows, as true and as predicted by the model, so that
the mix the model answers with in service can be compared with the one it answered with there.
A profile is plain JSON, built deterministically, so that registering the same model twice
gives the same bytes (the store's content hash covers it).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.project import Project, airbnb

PROFILE_FILE = "reference_profile.json"
PROFILE_VERSION = 1

# Categorical by meaning: flags are categories too (0 or 1), not magnitudes.
CATEGORICAL_KINDS = ("category", "flag")


def categorical_fields(project: Project) -> tuple[str, ...]:
    """The fields profiled by their values' counts (chi-square); the rest by distribution (KS)."""
    return project.of_kind(*CATEGORICAL_KINDS)


OTHER = "(other)"
_MIN_BIN_SHARE = 0.01  # rarer categories share the OTHER bin, so no bin's count is tiny
_EXACT_VALUES = 200  # numbers with at most this many distinct values are kept exactly
_QUANTILES = 1001


@dataclass(frozen=True)
class Bins:
    """How a field's values fall into the PSI bins: numeric ``edges`` (right-closed, with an
    open last bin) or the categories with a bin of their own."""

    labels: tuple[str, ...]
    numeric: bool
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def counts(self, values: pd.Series) -> np.ndarray:
        counts = np.zeros(len(self.labels))
        present = values.dropna()
        if self.numeric:
            numbers = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
            np.add.at(counts, np.searchsorted(np.asarray(self.edges), numbers, side="left"), 1)
        else:
            text = present.map(category_text)
            index = {c: i for i, c in enumerate(self.categories)}
            other = self.labels.index(OTHER) if OTHER in self.labels else None
            positions = text.map(index)
            np.add.at(counts, positions.dropna().astype(int).to_numpy(), 1)
            unlisted = int(positions.isna().sum())
            if unlisted and other is not None:
                counts[other] += unlisted
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "numeric": self.numeric,
            "edges": list(self.edges),
            "categories": list(self.categories),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Bins:
        return cls(
            labels=tuple(raw["labels"]),
            numeric=bool(raw["numeric"]),
            edges=tuple(float(e) for e in raw.get("edges", ())),
            categories=tuple(raw.get("categories", ())),
        )


def category_text(value: Any) -> str:
    """A category as text: flags read 1 whether they came as 1, 1.0 or True."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(getattr(value, "value", value))


def numeric_bins(values: pd.Series) -> Bins:
    present = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    edges = tuple(float(e) for e in np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9))))
    labels = [f"≤ {_short(edges[0])}"] if edges else ["all"]
    labels += [f"({_short(a)}, {_short(b)}]" for a, b in itertools.pairwise(edges)]
    labels += [f"> {_short(edges[-1])}"] if edges else []
    return Bins(labels=tuple(labels), numeric=True, edges=edges)


def categorical_bins(values: pd.Series) -> Bins:
    shares = values.dropna().map(category_text).value_counts(normalize=True)
    frequent = tuple(sorted(str(c) for c, s in shares.items() if s >= _MIN_BIN_SHARE))
    # Rare values share OTHER, and so do values never seen in training (for anything wider
    # than a 0/1 flag), so that no bin's expected count is tiny.
    other = (OTHER,) if len(frequent) < len(shares) or len(shares) > 2 else ()
    labels = (*frequent, *other)
    return Bins(labels=labels, numeric=False, categories=frequent)


def _short(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def field_distribution(values: pd.Series) -> dict[str, Any]:
    """Every distinct value with its count, or the quantiles when there are too many."""
    present = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    distinct, counts = np.unique(present, return_counts=True)
    if len(distinct) <= _EXACT_VALUES:
        return {"values": distinct.tolist(), "counts": counts.tolist()}
    points = np.quantile(present, np.linspace(0, 1, _QUANTILES))
    return {"quantiles": [round(float(q), 7) for q in points]}


def build_profile(
    train: pd.DataFrame,
    test_confusion: Sequence[Sequence[int]],
    project: Project | None = None,
) -> dict[str, Any]:
    """The reference profile of a model of ``project`` (default: the Airbnb project) trained on
    ``train`` (rows of its fields), whose confusion matrix on its test rows (true classes in
    rows, in class order) was ``test_confusion``."""
    project = project if project is not None else airbnb()
    classes = list(project.target.labels or CATEGORIES)
    categorical = categorical_fields(project)
    matrix = np.asarray(test_confusion, dtype=int)
    fields: dict[str, Any] = {}
    for name in project.fields:
        column = train[name]
        entry: dict[str, Any] = {"rows": len(column), "missing": int(column.isna().sum())}
        if name in categorical:
            bins = categorical_bins(column)
            values = column.dropna().map(category_text).value_counts()
            entry |= {
                "kind": "categorical",
                "counts": {str(k): int(v) for k, v in sorted(values.items())},
            }
        else:
            bins = numeric_bins(column)
            entry |= {"kind": "numeric", **field_distribution(column)}
        entry["bins"] = bins.as_dict()
        entry["bin_counts"] = bins.counts(column).astype(int).tolist()
        fields[name] = entry
    return {
        "version": PROFILE_VERSION,
        "rows": len(train),
        "fields": fields,
        "order": list(project.fields),  # the saved JSON sorts its keys: the declared order
        "classes": classes,
        "test_rows": int(matrix.sum()),
        "test_mix": dict(zip(classes, map(int, matrix.sum(axis=1)), strict=True)),
        "test_predicted_mix": dict(zip(classes, map(int, matrix.sum(axis=0)), strict=True)),
    }


def profile_bytes(profile: Mapping[str, Any]) -> bytes:
    """``profile`` as the file saved in the model folder (the same profile, the same bytes)."""
    return json.dumps(profile, sort_keys=True, indent=1).encode()


class ProfileMissing(LookupError):
    """The model has no reference profile: it was registered before profiles were saved."""


def read_profile(model_folder: Path, tag: str) -> dict[str, Any]:
    path = model_folder / PROFILE_FILE
    if not path.is_file():
        raise ProfileMissing(
            f"{tag} has no reference profile: it was registered before mle-challenge saved one "
            "with every model, so its input drift cannot be measured. Train it again "
            "(`mle-challenge train`) to monitor drift; realized performance needs no profile."
        )
    profile = dict(json.loads(path.read_text()))
    if int(profile.get("version", 0)) > PROFILE_VERSION:
        raise ProfileMissing(
            f"{tag}'s reference profile has version {profile.get('version')}, newer than this "
            f"toolkit's {PROFILE_VERSION}: upgrade mle-challenge to monitor it."
        )
    return profile
