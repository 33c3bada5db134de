"""A project inferred from a table: each column's kind, the task, the classes, the id, and the
columns left out with the reason for each (``mle-challenge init``).

Pure functions of a DataFrame: reading the sources (and a team's ``prepare``) is the command's.
Cells may be text (a CSV read as strings) or typed (a prepared table): a column is numeric when
every value it has parses as a number, so both give the same project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from mle_challenge.config import model_name_problem
from mle_challenge.errors import ConfigError
from mle_challenge.project.declaration import (
    RESERVED,
    CategoryField,
    CountField,
    Field,
    FlagField,
    LatitudeField,
    LongitudeField,
    NumberField,
    Project,
)
from mle_challenge.project.load import parse_project

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

MAX_LEVELS = 50  # more distinct texts than this is not a category a request can name
MAX_CLASSES = 20  # a numeric target with more distinct values is a quantity, not a label
FREE_TEXT_LENGTH = 30  # mean characters from which many distinct texts read as prose
DATE_SHARE = 0.95  # of the values: the column holds dates

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DATE = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
    r"|\d{1,2}/\d{1,2}/\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?)$"
)
_DECORATION = r"[$€£¥%,\s]"  # what makes "$1,200.00" or "12 %" text, not a number
LATITUDE_NAMES = frozenset({"lat", "latitude"})
LONGITUDE_NAMES = frozenset({"lon", "lng", "long", "longitude"})

# The one candidate an inferred project trains: boosting copes with any mix of kinds, stops
# early at any size, and the team edits the section to add others.
DEFAULT_TRAIN: dict[str, Any] = {
    "candidates": {
        "hist_gb": {
            "kind": "hist_gradient_boosting",
            "params": {
                "max_iter": 300,
                "learning_rate": 0.1,
                "random_state": 0,
                "early_stopping": True,
            },
        }
    }
}


@dataclass(frozen=True)
class Inferred:
    """A column the model reads: its field, and what the data showed of it."""

    name: str
    spec: Field
    seen: str  # "1 to 16" or "3 levels: a, b, c"


@dataclass(frozen=True)
class Ignored:
    """A column the model does not read, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Inference:
    """The project, with what led to it, for the summary and the file's comments."""

    project: Project
    fields: tuple[Inferred, ...]
    ignored: tuple[Ignored, ...]
    task_reason: str
    id_reason: str
    rows: int
    rows_without_target: int


def blank_as_null(series: pd.Series) -> pd.Series:
    """Empty or all-space text is no value (a CSV's empty cell), as a null is."""
    if series.dtype != object and not pd.api.types.is_string_dtype(series):
        return series
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def as_numbers(series: pd.Series) -> pd.Series | None:
    """The column as floats when every value it has is a number; else None."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    if pd.api.types.is_datetime64_any_dtype(series):
        return None
    values = blank_as_null(series)
    parsed = pd.to_numeric(values, errors="coerce")
    if parsed.notna().sum() != values.notna().sum():
        return None
    return parsed.astype(float)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _levels_text(levels: list[str], shown: int = 6) -> str:
    more = f", ... ({len(levels)} in all)" if len(levels) > shown else ""
    return f"{len(levels)} levels: {', '.join(levels[:shown])}{more}"


def is_date_like(values: pd.Series) -> bool:
    """Whether (nearly) every value reads as a date or a time stamp."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    text = values.dropna().astype(str)
    return bool(len(text)) and text.str.match(_DATE).mean() >= DATE_SHARE


def infer_column(name: str, series: pd.Series) -> Inferred | Ignored:
    """The field ``series`` becomes, or why it is left out. Nullable when it has nulls."""
    if not _IDENTIFIER.match(name) or name in RESERVED:
        return Ignored(
            name,
            "its name is not a plain identifier (letters, digits, _; not one of "
            f"{', '.join(sorted(RESERVED))}): rename it in the file or in a prepare function",
        )
    values = blank_as_null(series)
    present = values.dropna()
    if present.empty:
        return Ignored(name, "every value is empty")
    distinct = present.nunique()
    if distinct == 1:
        return Ignored(name, f"constant: every value is {present.iloc[0]!s:.40}")
    nullable = bool(values.isna().any())
    numbers = as_numbers(series)
    if numbers is not None:
        return _numeric(name, numbers.dropna(), nullable)
    if is_date_like(present):
        return Ignored(
            name, "dates: derive a number from them in a prepare function (e.g. days since)"
        )
    text = present.astype(str)
    if _decorated_numbers(text):
        return Ignored(
            name,
            f"numbers written as text (such as {text.iloc[0]!r}): parse them in a prepare function",
        )
    if distinct <= MAX_LEVELS:
        levels = sorted(text.unique())
        return Inferred(name, CategoryField(nullable=nullable), _levels_text(levels))
    length = text.str.len().mean()
    if length >= FREE_TEXT_LENGTH:
        return Ignored(
            name, f"free text: {distinct:,} distinct values, {length:.0f} characters on average"
        )
    return Ignored(
        name,
        f"{distinct:,} distinct texts: too many for a category (at most {MAX_LEVELS}); group "
        "them in a prepare function",
    )


def _decorated_numbers(text: pd.Series) -> bool:
    """Whether the texts are numbers once currency signs, % and thousands commas are gone."""
    return as_numbers(text.str.replace(_DECORATION, "", regex=True)) is not None


def _numeric(name: str, numbers: pd.Series, nullable: bool) -> Inferred:
    low, high = float(numbers.min()), float(numbers.max())
    seen = f"{_number(low)} to {_number(high)}"
    lowered = name.lower()
    if set(numbers.unique()) <= {0.0, 1.0}:
        return Inferred(name, FlagField(nullable=nullable), "0/1")
    if lowered in LATITUDE_NAMES and low >= -90 and high <= 90:
        return Inferred(name, LatitudeField(nullable=nullable), seen)
    if lowered in LONGITUDE_NAMES and low >= -180 and high <= 180:
        return Inferred(name, LongitudeField(nullable=nullable), seen)
    whole = bool((numbers == numbers.round()).all())
    if whole and low >= 0:
        return Inferred(name, CountField(bounds="learned", nullable=nullable), seen)
    return Inferred(name, NumberField(bounds="learned", nullable=nullable), seen)


def label(value: Any) -> str:
    """A class as the project names it: 1.0 and "1" are the class "1"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def infer_task(target: pd.Series, column: str, given: str | None) -> tuple[Task, str]:
    """The task, given or inferred from the target's values, and why."""
    present = blank_as_null(target).dropna()
    if present.nunique() < 2:
        shown = f" ({present.iloc[0]})" if len(present) else ""
        raise ConfigError(
            f"target column {column!r} has {'one value' if len(present) else 'no values'}"
            f"{shown} in every row: there is nothing to learn; give another --target"
        )
    numbers = as_numbers(target)
    distinct = present.nunique()
    text = present.astype(str)
    if numbers is None and given != "classification" and _decorated_numbers(text):
        raise ConfigError(
            f"target column {column!r} holds numbers written as text (such as "
            f"{text.iloc[0]!r}): parse them in a prepare function (then predict the number, or "
            "cut it into classes with target.bins), or pass --task classification"
        )
    if given is not None:
        if given not in TASKS:
            raise ConfigError(f"unknown task {given!r}: give --task classification or regression")
        if given == "regression" and numbers is None:
            raise ConfigError(
                f"--task regression needs a numeric target, and {column!r} holds text such as "
                f"{present.iloc[0]!r}: use --task classification, or another --target"
            )
        return given, "given by --task"
    if numbers is None:
        return "classification", f"{column!r} holds text ({distinct} distinct labels)"
    whole = bool((numbers.dropna() == numbers.dropna().round()).all())
    if whole and distinct <= MAX_CLASSES:
        return "classification", (
            f"{column!r} holds {distinct} distinct whole numbers (at most {MAX_CLASSES} are "
            "labels; --task regression if they are quantities)"
        )
    return "regression", (
        f"{column!r} holds {distinct:,} distinct numbers (--task classification if they are labels)"
    )


def infer_classes(target: pd.Series) -> tuple[str, ...]:
    """The classes, sorted (numerically when they are numbers); at least two."""
    present = blank_as_null(target).dropna()
    numbers = as_numbers(present)
    ordered = sorted(set(numbers)) if numbers is not None else sorted(set(present.astype(str)))
    classes = tuple(dict.fromkeys(label(v) for v in ordered))
    if len(classes) > MAX_LEVELS:
        raise ConfigError(
            f"{len(classes):,} classes are too many to classify (at most {MAX_LEVELS}): use "
            "--task regression for a quantity, or group the labels in a prepare function"
        )
    return classes


def infer_id(frame: pd.DataFrame, given: str | None) -> tuple[str, str]:
    """The id column and why: ``given`` (which must name unique values), else a unique column
    named ``id``. A row number is never made up: an id must mean the same row in the next file."""
    if given is None and "id" not in frame.columns:
        unique = [c for c in frame.columns if _unique_whole(frame[c])]
        shown = ", ".join(map(str, unique[:5]))
        hint = f" (unique whole-number columns: {shown})" if unique else ""
        raise ConfigError(
            "no id column: the table has no column named `id`; give --id COLUMN, a column "
            f"unique to each row{hint}, or add one in a prepare function"
        )
    column = given or "id"
    if column not in frame.columns:
        raise ConfigError(f"--id {column!r} is not a column of the data: {_columns(frame)}")
    values = blank_as_null(frame[column])
    if values.isna().any():
        raise ConfigError(f"id column {column!r} has {int(values.isna().sum())} empty values: "
                          "every row needs its id; give another --id")  # fmt: skip
    repeated = values[values.duplicated()]
    if len(repeated):
        raise ConfigError(
            f"id column {column!r} repeats values (e.g. {repeated.iloc[0]}): an id names one "
            "row; give a unique column with --id"
        )
    return column, "given by --id" if given else "the column named id, unique"


def _unique_whole(series: pd.Series) -> bool:
    numbers = as_numbers(series)
    if numbers is None or numbers.isna().any():
        return False
    return bool((numbers == numbers.round()).all() and numbers.is_unique)


def _columns(frame: pd.DataFrame, shown: int = 12) -> str:
    names = [str(c) for c in frame.columns]
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return f"its columns are {', '.join(names[:shown])}{more}"


def project_name(given: str | None, fallback: str) -> str:
    """``given``, else ``fallback`` made a valid name (lower case, ``_`` for the rest)."""
    name = given or (re.sub(r"[^a-z0-9_.-]+", "_", fallback.lower()).strip("_.-") or "project")
    problem = model_name_problem(name)
    if problem is not None:
        raise ConfigError(f"{problem.replace('model name', '--name')}")
    return name


def infer_project(
    frame: pd.DataFrame,
    *,
    target: str,
    sources: dict[str, str],
    name: str,
    task: str | None = None,
    id_column: str | None = None,
    prepare: str = "none",
) -> Inference:
    """The project ``frame`` suggests, predicting ``target``; every other column is a field or
    left out with its reason."""
    if target not in frame.columns:
        raise ConfigError(
            f"target column {target!r} is not in the data: {_columns(frame)}; give one of "
            "them with --target"
        )
    chosen, task_reason = infer_task(frame[target], target, task)
    ident, id_reason = infer_id(frame, id_column)
    if ident == target:
        raise ConfigError(f"--id and --target both name {target!r}: an id is never the answer")
    columns = [infer_column(str(c), frame[c]) for c in frame.columns if c not in (target, ident)]
    fields = tuple(c for c in columns if isinstance(c, Inferred))
    left_out = [c for c in columns if isinstance(c, Ignored)]
    ignored = (Ignored(ident, "the id: echoed in answers, never a feature"), *left_out)
    if not fields:
        raise ConfigError(
            "no column can be a field the model reads: "
            + "; ".join(f"{i.name}: {i.reason}" for i in ignored[1:])
        )
    answer = target if _IDENTIFIER.match(target) and target not in RESERVED else "answer"
    described: dict[str, Any] = {"name": answer, "task": chosen, "column": target}
    if chosen == "classification":
        described["classes"] = list(infer_classes(frame[target]))
    raw = {
        "name": name,
        "sources": [{"name": k, "url": v} for k, v in sources.items()],
        "prepare": prepare,
        "id": ident,
        "target": described,
        "fields": {
            f.name: {"kind": f.spec.kind, **f.spec.model_dump(exclude_defaults=True)}
            for f in fields
        },
        "serving": {"model_name": name},
        "train": DEFAULT_TRAIN,
    }
    missing = int(blank_as_null(frame[target]).isna().sum())
    return Inference(
        parse_project(raw, "the inferred project"),
        fields,
        ignored,
        task_reason,
        id_reason,
        len(frame),
        missing,
    )
