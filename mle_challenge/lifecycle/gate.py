"""The quality gate: tests a registered model must pass before it can be promoted.

Checks, all on rows the model never saw (the pipeline's test split):
- metric thresholds (``params.yaml`` → ``gate``);
- no regression against the production model on the same rows, beyond a tolerance;
- behaviour: the listing ``id`` never changes the answer (invariance); more bedrooms and guests,
  all else equal, do not lower the predicted class for the large majority of listings
  (directional); a few obvious cases (minimum functionality);
- the contract: the example request, through the service's own types, gets a valid answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.config import GateParams
from mle_challenge.lifecycle.store import verified
from mle_challenge.model.features import API_FEATURES


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    figure: str
    threshold: str
    detail: str = ""


@dataclass(frozen=True)
class GateResult:
    tag: str
    passed: bool
    checks: list[Check]
    against: str | None
    rows: int
    checked_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GateResult:
        return cls(**{**raw, "checks": [Check(**c) for c in raw["checks"]]})

    def table(self) -> str:
        lines = [
            f"gate for {self.tag} on {self.rows:,} held-out rows: "
            f"{'PASSED' if self.passed else 'FAILED'}"
        ]
        lines.append(f"  {'check':<46} {'result':<6} {'figure':>10} {'threshold':>10}  detail")
        for c in self.checks:
            mark = "pass" if c.passed else "FAIL"
            lines.append(
                f"  {c.name:<46} {mark:<6} {c.figure:>10} {c.threshold:>10}  {c.detail}".rstrip()
            )
        return "\n".join(lines)


# Obvious cases: (what must not happen, listing).
_MANHATTAN_FAMILY_HOME = {
    "accommodates": 8,
    "room_type": "Entire home/apt",
    "beds": 4,
    "bedrooms": 4,
    "bathrooms": 2.0,
    "neighbourhood": "Manhattan",
    "tv": 1,
    "elevator": 1,
    "internet": 1,
    "latitude": 40.7549,
    "longitude": -73.9840,
}
_BRONX_SHARED_ROOM = {
    "accommodates": 1,
    "room_type": "Shared room",
    "beds": 1,
    "bedrooms": 1,
    "bathrooms": 1.0,
    "neighbourhood": "Bronx",
    "tv": 0,
    "elevator": 0,
    "internet": 0,
    "latitude": 40.8448,
    "longitude": -73.8648,
}
MINIMUM_FUNCTIONALITY = (
    ("entire Manhattan home for 8 is not Low", "Low", _MANHATTAN_FAMILY_HOME),
    ("shared Bronx room for 1 is not Lux", "Lux", _BRONX_SHARED_ROOM),
)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    frame = rows.loc[:, [*API_FEATURES, "id"]].astype(object)
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def _rank(labels: list[str]) -> np.ndarray:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return np.array([order[label] for label in labels])


def run_gate(
    tag: str, held_out: pd.DataFrame, params: GateParams, production: str | None
) -> GateResult:
    """Run every check of ``tag`` on ``held_out`` (API columns, ``id`` and ``category``)."""
    from mle_challenge.model.evaluate import classification_metrics
    from mle_challenge.model.predictor import Predictor
    from mle_challenge.model.schema import EXAMPLE_LISTING, answers_for, listing_model

    predictor = Predictor.load(verified(tag))  # never unpickle a model that changed
    X, y = held_out.loc[:, list(API_FEATURES)], held_out["category"].astype(str)
    checks: list[Check] = []

    metrics = classification_metrics(predictor.pipeline, X, y)
    for key, floor in (
        ("accuracy", params.min_accuracy),
        ("macro_f1", params.min_macro_f1),
        ("roc_auc_ovr", params.min_roc_auc_ovr),
    ):
        value = float(metrics[key] or 0.0)
        checks.append(Check(f"metric: {key}", value >= floor, f"{value:.4f}", f">= {floor:.4f}"))

    if production is not None and production != tag:
        baseline = classification_metrics(Predictor.load(verified(production)).pipeline, X, y)
        ours, theirs = float(metrics["macro_f1"]), float(baseline["macro_f1"])
        checks.append(
            Check(
                "no regression: macro_f1",
                ours >= theirs - params.max_regression,
                f"{ours:.4f}",
                f">= {theirs - params.max_regression:.4f}",
                f"production {production}: {theirs:.4f}",
            )
        )
    else:
        checks.append(
            Check("no regression: macro_f1", True, "-", "-", "no other production model yet")
        )

    sample = held_out.sample(min(500, len(held_out)), random_state=0)
    records = _records(sample)
    base = predictor.predict_records(records)
    shuffled = [
        r | {"id": int(i)}
        for r, i in zip(
            records, np.random.default_rng(1).integers(0, 2**62, len(records)), strict=True
        )
    ]
    moved = predictor.predict_records(shuffled)
    same = base.labels == moved.labels and np.array_equal(base.probabilities, moved.probabilities)
    checks.append(Check("invariance: id", same, "identical" if same else "differs", "identical"))

    bigger = [
        r | {"bedrooms": (r["bedrooms"] or 0) + 1, "accommodates": r["accommodates"] + 2}
        for r in records
    ]
    up = _rank(predictor.predict_records(bigger).labels) >= _rank(base.labels)
    share = float(up.mean())
    checks.append(
        Check(
            "directional: +1 bedroom, +2 guests",
            share >= params.directional_min_share,
            f"{share:.3f}",
            f">= {params.directional_min_share:.3f}",
            "share of listings whose class does not go down",
        )
    )

    known = predictor.categories
    for name, forbidden, case in MINIMUM_FUNCTIONALITY:
        if (
            case["room_type"] not in known["room_type"]
            or case["neighbourhood"] not in known["neighbourhood"]
        ):
            checks.append(
                Check(
                    f"minimum: {name}",
                    False,
                    "-",
                    f"not {forbidden}",
                    "category unknown to the model",
                )
            )
            continue
        label = predictor.predict_records([case | {"id": 0}]).labels[0]
        checks.append(Check(f"minimum: {name}", label != forbidden, label, f"not {forbidden}"))

    try:
        listing = listing_model(known).model_validate(EXAMPLE_LISTING)
        answer = answers_for(predictor, [listing])[0]
        ok = answer.id == EXAMPLE_LISTING["id"] and answer.price_category in CATEGORIES
        checks.append(
            Check("contract: example request", ok, str(answer.price_category), "a category")
        )
    except Exception as exc:  # the check reports whatever breaks the contract
        checks.append(
            Check("contract: example request", False, "error", "a category", str(exc)[:200])
        )

    return GateResult(
        tag=tag,
        passed=all(c.passed for c in checks),
        checks=checks,
        against=production if production != tag else None,
        rows=len(held_out),
        checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
