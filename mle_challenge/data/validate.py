"""A table's rows checked against a project's declared fields, with the API's own rules.

The same rules the request model applies one request at a time (:mod:`mle_challenge.project.
request`), applied to a whole table at once: each row gets its first problem as a reason (or
NA), so batch prediction refuses exactly what ``POST /<route>`` would, and says why.

Cells may be text (a CSV of API rows) or already typed (a prepared table): numbers parse the
same either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge.data.parse import first_reasons, parse_id, parse_number
from mle_challenge.project.declaration import (
    CategoryField,
    CountField,
    LatitudeField,
    LongitudeField,
    NumberField,
    Project,
)
from mle_challenge.project.request import ID_MAX, declared_bounds

TRUE, FALSE = frozenset({"1", "true", "1.0"}), frozenset({"0", "false", "0.0"})
_COORDINATES = (LatitudeField, LongitudeField)


@dataclass(frozen=True)
class Checked:
    """Rows typed for the model (the id last) and each row's first problem, NA when none."""

    rows: pd.DataFrame
    reasons: pd.Series


def _bounds_text(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}]"


def _id_checks(project: Project, frame: pd.DataFrame) -> tuple[pd.Series, list[tuple[str, Any]]]:
    given = frame[project.id]
    ids = parse_id(given)
    missing = given.isna().to_numpy()
    inside = ids.between(0, ID_MAX)
    whole = ids.notna() & inside
    checks: list[tuple[str, Any]] = [
        (f"missing {project.id}", missing),
        (f"{project.id} is not a whole number", ids.isna().to_numpy() & ~missing),
        (f"{project.id} out of range [0, 2^63-1]", ids.notna() & ~inside),
        (f"duplicate {project.id}", ids.duplicated(keep="first") & whole),
    ]
    return ids.where(whole), checks


def check_rows(
    project: Project,
    frame: pd.DataFrame,
    levels: Mapping[str, Sequence[str]],
    bounds: Mapping[str, tuple[float, float]],
) -> Checked:
    """``frame``'s rows by the rules of a model of ``project`` that learned these category
    ``levels`` and field ``bounds``: typed rows, and each row's first problem.

    The checks run in a fixed order of kinds, so a row's reason is the one ``/<route>``
    would name first: the id, categories, missing required numbers, numbers that are not
    numbers, ranges, coordinates, flags.
    """
    out = pd.DataFrame(index=frame.index)
    ids, checks = _id_checks(project, frame)
    categories = {n: s for n, s in project.fields.items() if isinstance(s, CategoryField)}
    numeric = {
        n: s
        for n, s in project.fields.items()
        if isinstance(s, NumberField | CountField | LatitudeField | LongitudeField)
    }
    for name, category in categories.items():
        given = category.levels
        known = list(levels[name]) if given == "learned" else list(given)
        text = frame[name].astype("string").str.strip()
        missing = text.isna().to_numpy()
        if not category.nullable:
            checks.append((f"missing {name}", missing))
        checks.append((f"{name} not one of: {', '.join(known)}", ~missing & ~text.isin(known)))
        out[name] = text
    number = {name: parse_number(frame[name]) for name in numeric}
    for name, spec in numeric.items():
        if not spec.nullable and not isinstance(spec, _COORDINATES):
            checks.append((f"missing {name}", frame[name].isna()))
    for name, values in number.items():
        unparsed = (values.isna() & frame[name].notna()) | np.isinf(values)
        checks.append((f"{name} is not a number", unparsed))
    for name, spec in numeric.items():
        checks += _range_checks(name, spec, number[name], declared_bounds(spec, bounds.get(name)))
    out = out.assign(**number)
    for name, field in project.fields.items():
        if field.kind != "flag":
            continue
        text = frame[name].astype("string").str.strip().str.lower()
        allowed = TRUE | FALSE
        bad = ~text.isin(allowed) if not field.nullable else text.notna() & ~text.isin(allowed)
        checks.append((f"{name} is not true, false, 1 or 0", bad))
        flag = text.isin(TRUE).astype(int)
        out[name] = flag if not field.nullable else flag.where(text.notna())
    out[project.id] = ids
    rows = out.loc[:, [*project.fields, project.id]]
    return Checked(rows=rows, reasons=first_reasons(checks, frame.index))


def _range_checks(
    name: str, spec: Any, values: pd.Series, bounds: tuple[float, float] | None
) -> list[tuple[str, Any]]:
    if isinstance(spec, _COORDINATES):
        checks: list[tuple[str, Any]] = []
        if not spec.nullable:
            checks.append((f"missing {name}", values.isna()))
        if bounds is not None:
            where = f"outside the model's training area [{bounds[0]}, {bounds[1]}]"
            checks.append((f"{name} {where}", values.notna() & ~values.between(*bounds)))
        return checks
    low, high = bounds if bounds is not None else (-np.inf, np.inf)
    outside = ~values.between(low, high)
    if isinstance(spec, CountField):
        limits = "" if bounds is None else f" in {_bounds_text(low, high)}"
        wrong = outside | (values % 1 != 0)
        present = values.notna() if spec.nullable else pd.Series(True, index=values.index)
        return [(f"{name} not a whole number{limits}", present & wrong)]
    if bounds is None:
        return []
    return [(f"{name} out of range {_bounds_text(low, high)}", values.notna() & outside)]


def typed(project: Project, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s id and fields as their kinds' JSON types: the id, counts and flags as whole
    numbers, the other numeric kinds as floats, categories as they are (a request's shape)."""
    out = frame.loc[:, [project.id, *project.fields]].copy()
    for name in (project.id, *project.of_kind("count", "flag")):
        out[name] = pd.to_numeric(out[name]).astype("Int64")
    for name in project.of_kind("number", "latitude", "longitude"):
        out[name] = pd.to_numeric(out[name])
    return out
