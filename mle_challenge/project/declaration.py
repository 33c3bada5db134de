"""The project file's schema: what a team declares about its problem, checked by pydantic.

Every key is checked with a message that names it and says what would be right, and the
cross-checks that a schema alone cannot say (a gate case naming a field that is not declared,
a target column the model would also read) are made here, before anything runs.

Stage parameters keep the sections and shapes of ``params.yaml`` (``split``, ``train``,
``select``, ``gate``, ``monitor``), so a parameter file can still override a project's sections
one for one (:func:`mle_challenge.project.load.project_params`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    field_validator,
    model_validator,
)
from pydantic import Field as PydanticField

from mle_challenge.config import (
    GateParams,
    ModelName,
    MonitorParams,
    SelectParams,
    SplitParams,
    TrainParams,
    model_name_problem,
)

# Field names become pydantic attributes, JSON keys of the log and CSV columns: identifiers.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What an answer or a request already uses for itself.
RESERVED = frozenset({"model", "probabilities", "prediction", "status", "error"})
# `module:function`, importable; the one built-in preparation is named without a colon.
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
BUILTIN_PREPARE = ("airbnb",)

Bounds = tuple[float, float]


def _within(low: float = float("-inf"), high: float = float("inf")) -> AfterValidator:
    def check(bounds: Any) -> Any:
        if bounds is None or bounds == "learned":
            return bounds
        if not bounds[0] < bounds[1]:
            raise ValueError(f"bounds {list(bounds)} must be [lowest, highest], lowest < highest")
        if bounds[0] < low or bounds[1] > high:
            raise ValueError(f"bounds {list(bounds)} must lie within [{low}, {high}]")
        return bounds

    return AfterValidator(check)


AnyBounds = Annotated[Bounds | Literal["learned"] | None, _within()]


class _FieldBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    nullable: bool = PydanticField(
        False, description="Whether a request may leave it out or send null (unknown)."
    )
    description: str = ""


class NumberField(_FieldBase):
    """Any finite number: within ``bounds`` when given, within the training rows' range widened
    by its own width when ``learned``."""

    kind: Literal["number"] = "number"
    bounds: AnyBounds = None


class CountField(_FieldBase):
    """A whole number (4.0 is 4; 4.5 is refused), within ``bounds`` or the learned range."""

    kind: Literal["count"] = "count"
    bounds: AnyBounds = None


class FlagField(_FieldBase):
    """Has it or not: true/false or 1/0."""

    kind: Literal["flag"] = "flag"


class CategoryField(_FieldBase):
    """One of a set of texts: ``levels`` given, or ``learned`` from the training rows (a
    request naming a level the model never saw is refused)."""

    kind: Literal["category"] = "category"
    levels: tuple[str, ...] | Literal["learned"] = "learned"


class LatitudeField(_FieldBase):
    """WGS84 latitude, within ``bounds`` or the training rows' area (with a margin)."""

    kind: Literal["latitude"] = "latitude"
    bounds: Annotated[Bounds | Literal["learned"], _within(-90, 90)] = "learned"


class LongitudeField(_FieldBase):
    """WGS84 longitude, within ``bounds`` or the training rows' area (with a margin)."""

    kind: Literal["longitude"] = "longitude"
    bounds: Annotated[Bounds | Literal["learned"], _within(-180, 180)] = "learned"


Field = Annotated[
    NumberField | CountField | FlagField | CategoryField | LatitudeField | LongitudeField,
    Discriminator("kind"),
]
KINDS = ("number", "count", "flag", "category", "latitude", "longitude")


class Source(BaseModel):
    """One input table: a path (relative to the project file's folder), http(s):// or s3://."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    url: str = PydanticField(min_length=1)


class Bins(BaseModel):
    """Classes cut from a numeric column: a value up to ``edges[0]`` is ``labels[0]``, and so
    on; above the last edge, the last label. ``quantile`` cuts at the training values'
    quantiles, so the classes mean the same in any currency or unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    edges: tuple[float, ...] | Literal["quantile"]
    labels: tuple[str, ...] = PydanticField(min_length=2)

    @model_validator(mode="after")
    def _edges_fit_labels(self) -> Bins:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels {list(self.labels)} repeat a label")
        if self.edges == "quantile":
            return self
        if len(self.edges) != len(self.labels) - 1:
            raise ValueError(
                f"{len(self.labels)} labels need {len(self.labels) - 1} edges (the upper "
                f"bound of every label but the last); got {len(self.edges)}: {list(self.edges)}"
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"edges {list(self.edges)} must increase")
        return self


class Target(BaseModel):
    """What the model answers. Classification takes the labels of ``column``, or cuts them
    from a numeric column by ``bins``; regression predicts the number in ``column``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = PydanticField(description="The answer's field, e.g. price_category.")
    task: Literal["classification", "regression"]
    description: str = ""
    column: str | None = None
    bins: Bins | None = None
    classes: tuple[str, ...] | None = PydanticField(
        None, description="The classes in their order (default: the bins' labels, or sorted)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Target:
        if self.task == "regression":
            if self.column is None or self.bins is not None or self.classes is not None:
                raise ValueError(
                    "a regression target names its numeric `column`, with no `bins` or "
                    "`classes`: e.g. {name: prediction, task: regression, column: price}"
                )
            return self
        if (self.column is None) == (self.bins is None):
            raise ValueError(
                "a classification target takes its labels from `column`, or cuts them from a "
                "number by `bins`: give exactly one of the two"
            )
        if self.bins is not None and self.classes not in (None, self.bins.labels):
            raise ValueError("`classes` of binned labels are the bins' labels: leave it out")
        return self

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The classes in their order, when the declaration fixes them."""
        return self.bins.labels if self.bins is not None else self.classes

    @property
    def source_column(self) -> str:
        """The column of the prepared table the target is read from."""
        return self.bins.column if self.bins is not None else str(self.column)


class Titled(BaseModel):
    """How a request or an answer is named and described in the API's documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str
    description: str = ""
    id_description: str = "The row's id, echoed in the answer."
    example: dict[str, Any] | None = None  # an answer's, for the documents (a request's: below)

    @field_validator("title")
    @classmethod
    def _title(cls, title: str) -> str:
        if not re.match(r"^[A-Z][A-Za-z0-9]*$", title):
            raise ValueError(f"title {title!r} must be a CamelCase word such as Listing")
        return title


class Serving(BaseModel):
    """How the model is served: ``POST /<route>`` and ``/<route>_batch``, answering
    ``{"id", "<answer>", ...}``, registered as ``model_name``. ``example`` is the request the
    API's documents show when the model saved none of its own (a real training row)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    route: str = "predict"
    answer: str | None = None  # None: the target's name
    model_name: ModelName
    request: Titled = Titled(title="Request", description="One row, flat.")
    response: Titled = Titled(
        title="Answer", description="The answer for one row.", id_description="The id asked about."
    )
    example: dict[str, Any] | None = None

    @field_validator("route")
    @classmethod
    def _route(cls, route: str) -> str:
        if not _IDENTIFIER.match(route):
            raise ValueError(f"route {route!r} must be a plain word such as classify")
        return route


class GateCase(BaseModel):
    """A behavioural case written as data: ``listing`` (fields the model reads; a list picks
    the first level the model knows), placed ``at`` a category's level chosen by the training
    rows (``dearest``/``cheapest``: the level with the highest or lowest target), whose answer
    must not be ``not``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str
    listing: dict[str, Any]
    at: dict[str, Literal["dearest", "cheapest"]] = PydanticField(default_factory=dict)
    forbidden: str = PydanticField(alias="not")


class Directional(BaseModel):
    """Adding ``add`` to numeric fields (an unknown value counts as 0) must not lower the answer
    (the class in its order, or the predicted number) for ``gate.directional_min_share`` of the
    test rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    add: dict[str, float] = PydanticField(min_length=1)


class GateSection(GateParams):
    """The gate's thresholds (``params.yaml``'s ``gate``) and its behavioural cases."""

    cases: tuple[GateCase, ...] = ()
    directional: tuple[Directional, ...] = ()


class Features(BaseModel):
    """What the model derives from the declared fields, beside the fields themselves:
    ``ratios`` name ``numerator / denominator`` features of two number or count fields, the
    denominator floored at 1 (no division by zero, and 0 or 1 bedroom both count as one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ratios: dict[str, tuple[str, str]] = PydanticField(
        default_factory=dict, description="name: [numerator, denominator], both declared fields."
    )

    @field_validator("ratios")
    @classmethod
    def _ratio_names(cls, ratios: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        for name in ratios:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"ratio name {name!r} must be a plain identifier (letters, _)")
        return ratios


def _short_form(fields: Any) -> Any:
    # `wifi: flag` is `wifi: {kind: flag}`: the common case in one word.
    if not isinstance(fields, dict):
        return fields
    return {k: {"kind": v} if isinstance(v, str) else v for k, v in fields.items()}


def _short_sources(sources: Any) -> Any:
    # `sources: {listings: path}` or a bare `sources: path` (named `data`).
    if isinstance(sources, str):
        return [{"name": "data", "url": sources}]
    if isinstance(sources, dict):
        return [{"name": k, "url": v} for k, v in sources.items()]
    return sources


class Project(BaseModel):
    """One project: the data, the target, every field, and the stages' parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    sources: tuple[Source, ...] = PydanticField(min_length=1)
    prepare: str = PydanticField(
        "none", description="airbnb (built in), module:function, or none (the single source)."
    )
    id: str = PydanticField(description="The id column: echoed in answers, never a feature.")
    target: Target
    fields: dict[str, Field] = PydanticField(min_length=1)
    features: Features = PydanticField(default_factory=Features)
    serving: Serving
    split: SplitParams = PydanticField(default_factory=SplitParams)
    train: TrainParams
    select: SelectParams = PydanticField(default_factory=SelectParams)
    gate: GateSection = PydanticField(default_factory=GateSection)
    monitor: MonitorParams = PydanticField(default_factory=MonitorParams)

    @field_validator("fields", mode="before")
    @classmethod
    def _fields_short(cls, fields: Any) -> Any:
        return _short_form(fields)

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_short(cls, sources: Any) -> Any:
        return _short_sources(sources)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        problem = model_name_problem(name)
        if problem is not None:  # it names bentos, images, metric labels and folders
            raise ValueError(problem.replace("model name", "project name"))
        return name

    @field_validator("prepare")
    @classmethod
    def _prepare(cls, prepare: str) -> str:
        if prepare in (*BUILTIN_PREPARE, "none") or _CALLABLE.match(prepare):
            return prepare
        raise ValueError(
            f"prepare {prepare!r} must be module:function (a function of your own, importable "
            f"from the current folder or PYTHONPATH), one of {', '.join(BUILTIN_PREPARE)}, or none"
        )

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, Any]) -> dict[str, Any]:
        for name in fields:
            if not _IDENTIFIER.match(name) or name in RESERVED:
                raise ValueError(
                    f"field name {name!r} must be a plain identifier (letters, digits, _) and "
                    f"not one of {', '.join(sorted(RESERVED))}: rename the column in prepare"
                )
        return fields

    @model_validator(mode="after")
    def _consistent(self) -> Project:
        problems = [*self._naming_problems(), *self._feature_problems(), *self._gate_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _naming_problems(self) -> list[str]:
        problems = []
        if self.id in self.fields:
            problems.append(f"the id column {self.id!r} is also a field: ids are never features")
        if self.target.source_column in self.fields:
            problems.append(
                f"the target's column {self.target.source_column!r} is also a field: the model "
                "would read its own answer; remove it from fields"
            )
        if self.answer in self.fields or self.answer == self.id:
            problems.append(f"the answer's name {self.answer!r} is also a field or the id")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            problems.append(f"source names {names} repeat a name")
        if len(self.sources) > 1 and self.prepare == "none":
            problems.append(
                f"{len(self.sources)} sources need a prepare function that joins them "
                "(prepare: module:function)"
            )
        return problems

    def _feature_problems(self) -> list[str]:
        problems = []
        for name, pair in self.features.ratios.items():
            if name in self.fields:
                problems.append(f"features.ratios.{name}: the name is also a field; rename it")
            for part in pair:
                if not isinstance(self.fields.get(part), NumberField | CountField):
                    problems.append(
                        f"features.ratios.{name}: {part!r} is not a declared number or count "
                        "field (a ratio divides two of them)"
                    )
        return problems

    def _gate_problems(self) -> list[str]:
        problems = []
        example = self.serving.example
        if example is not None:
            unknown = sorted(set(example) - {self.id, *self.fields})
            if unknown:
                problems.append(f"serving.example names undeclared field(s) {unknown}")
        labels = self.target.labels
        for case in self.gate.cases:
            unknown = sorted(set(case.listing) - set(self.fields))
            if unknown:
                problems.append(f"gate case {case.name!r} names undeclared field(s) {unknown}")
            for where in case.at:
                if not isinstance(self.fields.get(where), CategoryField):
                    problems.append(f"gate case {case.name!r}: `at` {where!r} is not a category")
            if labels is not None and case.forbidden not in labels:
                problems.append(
                    f"gate case {case.name!r}: not {case.forbidden!r} is not one of {list(labels)}"
                )
        for rule in self.gate.directional:
            for name in rule.add:
                if not isinstance(self.fields.get(name), NumberField | CountField):
                    problems.append(
                        f"directional {rule.name!r}: {name!r} is not a number or count field"
                    )
        return problems

    @property
    def answer(self) -> str:
        """The answer's field name: ``serving.answer``, else the target's name."""
        return self.serving.answer or self.target.name

    @property
    def task(self) -> Literal["classification", "regression"]:
        return self.target.task

    def area_bounds(
        self, latitude: tuple[float, float], longitude: tuple[float, float]
    ) -> dict[str, tuple[float, float]]:
        """The learned bounds of the coordinate fields, from a model's area."""
        return {
            **dict.fromkeys(self.of_kind("latitude"), latitude),
            **dict.fromkeys(self.of_kind("longitude"), longitude),
        }

    def of_kind(self, *kinds: str) -> tuple[str, ...]:
        """The declared fields of these kinds, in declaration order."""
        return tuple(name for name, spec in self.fields.items() if spec.kind in kinds)
