"""The quality gate: tests a registered model must pass before it can be promoted.

Checks, all on rows the model never saw (the pipeline's test split):
- metric thresholds (``params.yaml`` → ``gate``);
- no regression against the production model on the same rows, beyond a tolerance;
- behaviour, written as data in the project file (``gate.cases``, ``gate.directional``): the
  ``id`` never changes the answer (invariance); adding to numeric fields, all else equal, does
  not lower the predicted class for the large majority of rows (directional); a few obvious
  cases (minimum functionality), placed by what the model learned about its city (a case may
  sit at the dearest or cheapest level of the place category, as the Airbnb project's do). A
  case the data cannot make (no such level, no place with enough training rows) is skipped
  with the reason, not failed;
- the contract: the model's example request, through the service's own types, gets a valid
  answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.config import GateParams
from mle_challenge.lifecycle.store import verified
from mle_challenge.model.city import MIN_NEIGHBOURHOOD_ROWS, City, Neighbourhood
from mle_challenge.project import airbnb
from mle_challenge.project.declaration import GateCase, Project


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


@dataclass(frozen=True)
class Case:
    """A listing whose answer must not be ``forbidden``; ``listing`` None: skipped, ``why``."""

    name: str
    forbidden: str
    listing: dict[str, Any] | None
    why: str = ""


def minimum_cases(
    project: Project, city: City | None, categories: dict[str, list[str]]
) -> list[Case]:
    """The project's behavioural cases (``gate.cases``) for a model of ``city`` that knows
    ``categories``: each placed at the level its ``at`` names, with that level's coordinates."""
    return [_placed_case(project, case, city, categories) for case in project.gate.cases]


def _placed_case(
    project: Project, case: GateCase, city: City | None, categories: dict[str, list[str]]
) -> Case:
    listing: dict[str, Any] = {}
    for name, value in case.listing.items():
        if name not in categories:
            listing[name] = value
            continue
        wanted = value if isinstance(value, list) else [value]
        known = [v for v in wanted if v in categories[name]]
        if not known:
            why = f"no {' or '.join(map(str, wanted))} in the training data"
            return Case(case.name, case.forbidden, None, why)
        listing[name] = known[0]
    for name, which in case.at.items():
        placed = _place(city, which)
        if isinstance(placed, Skip):
            return Case(case.name, case.forbidden, None, placed.why)
        level, facts = placed
        listing[name] = level
        for field in project.of_kind("latitude"):
            listing[field] = facts.latitude
        for field in project.of_kind("longitude"):
            listing[field] = facts.longitude
    # "... in the dearest <field> ..." → "... in Manhattan ...": the table names the place.
    title = _named(case.name, case.at, [str(listing[name]) for name in case.at])
    return Case(title, case.forbidden, listing)


@dataclass(frozen=True)
class Skip:
    why: str


def _place(city: City | None, which: str) -> tuple[str, Neighbourhood] | Skip:
    """The level a case sits at, with its facts: the dearest or cheapest with enough training
    rows, as the model's city facts rank them (they rank the levels of the one place category a
    city has)."""
    if city is None:
        return Skip(
            "the model saved no city facts (registered by an older version): train it again"
        )
    ranked = city.ranked()
    if not ranked:
        return Skip(f"no place has {MIN_NEIGHBOURHOOD_ROWS} training rows")
    level = ranked[-1] if which == "dearest" else ranked[0]
    return level, city.neighbourhoods[level]


def _named(name: str, at: Mapping[str, str], levels: list[str]) -> str:
    for (field, which), level in zip(at.items(), levels, strict=True):
        name = name.replace(f"the {which} {field}", level)
    return name


def _records(project: Project, rows: pd.DataFrame) -> list[dict[str, Any]]:
    frame = rows.loc[:, [*project.fields, "id"]].astype(object)
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
    predictor: Any,
    held_out: pd.DataFrame,
    params: GateParams,
    production: str,
    project: Project | None = None,
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
    X, y = rows.loc[:, list(_project(project).fields)], rows["category"].astype(str)
    ours = float(classification_metrics(predictor.pipeline, X, y)["macro_f1"])
    baseline = Predictor.load(production).pipeline
    theirs = float(classification_metrics(baseline, X, y)["macro_f1"])
    floor = theirs - params.max_regression
    return Check(name, ours >= floor, f"{ours:.4f}", f">= {floor:.4f}", f"{note}: {theirs:.4f}")


def _project(project: Project | None) -> Project:
    # Models registered before projects were declared are the Airbnb project's.
    return project if project is not None else airbnb()


def directional(
    project: Project, predictor: Any, records: list[dict[str, Any]], base: Any, share: float
) -> list[Check]:
    """The project's directional rules: adding to numeric fields (unknown counts as 0) does not
    lower the class, for at least ``share`` of the listings."""
    checks = []
    for rule in project.gate.directional:
        changed = [r | {k: (r[k] or 0) + v for k, v in rule.add.items()} for r in records]
        up = _rank(predictor.predict_records(changed).labels) >= _rank(base.labels)
        found = float(up.mean())
        checks.append(
            Check(
                f"directional: {rule.name}",
                found >= share,
                f"{found:.3f}",
                f">= {share:.3f}",
                "share of listings whose class does not go down",
            )
        )
    return checks


def run_gate(
    tag: str,
    held_out: pd.DataFrame,
    params: GateParams,
    production: str | None,
    project: Project | None = None,
) -> GateResult:
    """Run every check of ``tag`` on ``held_out`` (the fields, ``id`` and ``category``)."""
    from mle_challenge.model.evaluate import classification_metrics
    from mle_challenge.model.predictor import Predictor
    from mle_challenge.model.schema import answers_for, listing_model

    project = _project(project)
    predictor = Predictor.load(verified(tag))  # never unpickle a model that changed
    X, y = held_out.loc[:, list(project.fields)], held_out["category"].astype(str)
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
        checks.append(no_regression(predictor, held_out, params, verified(production), project))
    else:
        checks.append(
            Check("no regression: macro_f1", True, "-", "-", "no other production model yet")
        )

    sample = held_out.sample(min(500, len(held_out)), random_state=0)
    records = _records(project, sample)
    base = predictor.predict_records(records)
    checks.append(invariance(predictor, records, base))
    checks += directional(project, predictor, records, base, params.directional_min_share)

    known = predictor.categories
    for case in minimum_cases(project, predictor.city, known):
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
