"""The quality gate: tests a registered model must pass before it can be promoted.

Checks, all on rows the model never saw (the pipeline's test split):
- metric thresholds (``params.yaml`` → ``gate``);
- no regression against the production model on the same rows, beyond a tolerance;
- behaviour: the listing ``id`` never changes the answer (invariance); more bedrooms and guests,
  all else equal, do not lower the predicted class for the large majority of listings
  (directional); a few obvious cases (minimum functionality), built from what the model
  learned about its city: a large entire home in its dearest neighbourhood is not Low, a room
  for one in its cheapest is not Lux. A case the city's data cannot make (no shared rooms, no
  neighbourhood with enough listings) is skipped with the reason, not failed;
- the contract: the model's example request, through the service's own types, gets a valid
  answer.
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
from mle_challenge.model.city import MIN_NEIGHBOURHOOD_ROWS, City
from mle_challenge.model.features import API_FEATURES


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    figure: str
    threshold: str
    detail: str = ""
    skipped: bool = False  # the data could not make the case: passed, with the reason


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
        width = max([46, *(len(c.name) for c in self.checks)])  # cases name their places
        lines.append(f"  {'check':<{width}} {'result':<6} {'figure':>10} {'threshold':>10}  detail")
        for c in self.checks:
            mark = "skip" if c.skipped else "pass" if c.passed else "FAIL"
            row = f"  {c.name:<{width}} {mark:<6} {c.figure:>10} {c.threshold:>10}  {c.detail}"
            lines.append(row.rstrip())
        return "\n".join(lines)


# Obvious cases, placed by the model's own city facts (the neighbourhood and its coordinates).
_LARGE_HOME = {
    "accommodates": 8,
    "room_type": "Entire home/apt",
    "beds": 4,
    "bedrooms": 4,
    "bathrooms": 2.0,
    "tv": 1,
    "elevator": 1,
    "internet": 1,
}
_ROOM_FOR_ONE = {
    "accommodates": 1,
    "beds": 1,
    "bedrooms": 1,
    "bathrooms": 1.0,
    "tv": 0,
    "elevator": 0,
    "internet": 0,
}


@dataclass(frozen=True)
class Case:
    """A listing whose answer must not be ``forbidden``; ``listing`` None: skipped, ``why``."""

    name: str
    forbidden: str
    listing: dict[str, Any] | None
    why: str = ""


def minimum_cases(city: City | None, categories: dict[str, list[str]]) -> list[Case]:
    """The minimum-functionality cases for a model of ``city`` that knows ``categories``."""
    home = "entire home for 8 in the dearest neighbourhood is not Low"
    room = "room for 1 in the cheapest neighbourhood is not Lux"
    if city is None:
        why = "the model saved no city facts (registered by an older version): train it again"
        return [Case(home, "Low", None, why), Case(room, "Lux", None, why)]
    ranked = city.ranked()
    if not ranked:
        why = f"no neighbourhood has {MIN_NEIGHBOURHOOD_ROWS} training listings"
        return [Case(home, "Low", None, why), Case(room, "Lux", None, why)]

    def placed(template: dict[str, Any], where: str) -> dict[str, Any]:
        facts = city.neighbourhoods[where]
        return template | {
            "neighbourhood": where,
            "latitude": facts.latitude,
            "longitude": facts.longitude,
        }

    dearest, cheapest = ranked[-1], ranked[0]
    rooms = categories["room_type"]
    cases = []
    if "Entire home/apt" in rooms:
        cases.append(
            Case(f"entire home for 8 in {dearest} is not Low", "Low", placed(_LARGE_HOME, dearest))
        )
    else:
        cases.append(Case(home, "Low", None, "no entire homes in the training data"))
    kind = next((k for k in ("Shared room", "Private room") if k in rooms), None)
    if kind is not None:
        listing = placed(_ROOM_FOR_ONE | {"room_type": kind}, cheapest)
        cases.append(Case(f"{kind.lower()} for 1 in {cheapest} is not Lux", "Lux", listing))
    else:
        cases.append(Case(room, "Lux", None, "no shared or private rooms in the training data"))
    return cases


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    frame = rows.loc[:, [*API_FEATURES, "id"]].astype(object)
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def _rank(labels: list[str]) -> np.ndarray:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return np.array([order[label] for label in labels])


def invariance(predictor: Any, records: list[dict[str, Any]], base: Any) -> Check:
    """The same listings under other ids get the same answers (``base``: theirs as given).

    Labels exactly; probabilities to float rounding: a forest's trees are summed by parallel
    threads in whatever order they finish, so the same listing twice can differ by 1e-16
    (measured: 108 of 500 rows). Exact equality failed good models now and then."""
    ids = np.random.default_rng(1).integers(0, 2**62, len(records))
    moved = predictor.predict_records(
        [r | {"id": int(i)} for r, i in zip(records, ids, strict=True)]
    )
    same = base.labels == moved.labels and np.allclose(
        base.probabilities, moved.probabilities, rtol=0, atol=1e-9
    )
    return Check("invariance: id", same, "identical" if same else "differs", "identical")


def no_regression(
    predictor: Any, held_out: pd.DataFrame, params: GateParams, production: str
) -> Check:
    """Macro-F1 against production's, on the test rows production was not fitted on.

    Monthly scrapes of a city share most listings: a new model's test rows are, for the most
    part, rows production trained on, where it scores what it memorised. Judged there, a model
    trained on the new month loses to the one it should replace (measured on the demo's month
    1: 0.647 against production's 0.663 on all rows; 0.654 against 0.598 on the rows production
    never saw). A model registered before its training ids were saved is compared on all the
    rows, as before."""
    from mle_challenge.lifecycle.registry import trained_ids
    from mle_challenge.model.evaluate import classification_metrics
    from mle_challenge.model.predictor import Predictor

    name = "no regression: macro_f1"
    rows, note = held_out, f"production {production}"
    seen = trained_ids(production)
    if seen is not None:
        unseen = ~held_out["id"].isin(seen)
        count = int(unseen.sum())
        if count < params.min_unseen_rows:
            reason = (
                f"only {count:,} of the {len(held_out):,} test rows are listings production "
                f"{production} was not trained on (gate.min_unseen_rows {params.min_unseen_rows})"
                ": on the others it would be judged on what it learned"
            )
            return Check(name, True, "-", "-", reason, skipped=True)
        rows = held_out[unseen]
        note += f", on the {count:,} of {len(held_out):,} test rows it was not trained on"
    X, y = rows.loc[:, list(API_FEATURES)], rows["category"].astype(str)
    ours = float(classification_metrics(predictor.pipeline, X, y)["macro_f1"])
    baseline = Predictor.load(production).pipeline
    theirs = float(classification_metrics(baseline, X, y)["macro_f1"])
    floor = theirs - params.max_regression
    return Check(name, ours >= floor, f"{ours:.4f}", f">= {floor:.4f}", f"{note}: {theirs:.4f}")


def run_gate(
    tag: str, held_out: pd.DataFrame, params: GateParams, production: str | None
) -> GateResult:
    """Run every check of ``tag`` on ``held_out`` (API columns, ``id`` and ``category``)."""
    from mle_challenge.model.evaluate import classification_metrics
    from mle_challenge.model.predictor import Predictor
    from mle_challenge.model.schema import answers_for, listing_model

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
        checks.append(no_regression(predictor, held_out, params, verified(production)))
    else:
        checks.append(
            Check("no regression: macro_f1", True, "-", "-", "no other production model yet")
        )

    sample = held_out.sample(min(500, len(held_out)), random_state=0)
    records = _records(sample)
    base = predictor.predict_records(records)
    checks.append(invariance(predictor, records, base))

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
    for case in minimum_cases(predictor.city, known):
        name, forbidden = f"minimum: {case.name}", f"not {case.forbidden}"
        if case.listing is None:
            checks.append(Check(name, True, "skipped", forbidden, case.why, skipped=True))
            continue
        label = predictor.predict_records([case.listing | {"id": 0}]).labels[0]
        checks.append(Check(name, label != case.forbidden, label, forbidden))

    example = predictor.example
    try:
        listing = listing_model(known, predictor.area, example).model_validate(example)
        answer = answers_for(predictor, [listing])[0]
        ok = answer.id == example["id"] and answer.price_category in CATEGORIES
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
