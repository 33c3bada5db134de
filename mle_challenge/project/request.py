"""The API's types, derived from a project's declared fields: one request in, one answer out.

Numbers are strict ("4" is not a number, 4.5 is not a count, NaN and Infinity are not numbers);
unknown fields are refused; a category is an enum of the levels the served model was trained
on, and a coordinate must lie in its training area. So the request model is built for a model
(its learned levels and bounds), when a service starts, never at import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum, StrEnum
from typing import Annotated, Any, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    create_model,
)

from mle_challenge.project.declaration import (
    CategoryField,
    CountField,
    LatitudeField,
    LongitudeField,
    NumberField,
    Project,
)

ID_MAX = 2**63 - 1  # ids are stored as signed 64-bit integers (the log, Parquet, pandas)


def _integral(value: Any) -> Any:
    # Notebooks send counts from float columns (4.0); a fraction still fails the int check.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_integral), Field(strict=True)]


def _flag(value: Any) -> int:
    if value is True or value is False or (type(value) is int and value in (0, 1)):
        return int(value)
    raise ValueError("must be true, false, 1 or 0")


Flag = Annotated[
    int,
    PlainValidator(_flag),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]}),
    Field(description="Whether the listing has it: true/false or 1/0."),
]


class Request(BaseModel):
    """The base of every project's request model."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def model_input(self) -> dict[str, Any]:
        """The row the model reads: flags as 0/1 (the validator made them so), enums as text."""
        return self.model_dump(mode="json")


def camel(name: str) -> str:
    """``contract_type`` → ``ContractType``: the name of a field's enum in the API's documents."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"_+", name) if part)


def enum_of(name: str, values: Sequence[str]) -> type[StrEnum]:
    """A text enum whose members are ``values``, in their order."""
    return StrEnum(name, [(v, v) for v in values])  # type: ignore[return-value]


def _inside(field: str, low: float, high: float, description: str) -> Any:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(
                f"{value} is outside the area the model was trained on, {field} [{low}, {high}]: "
                "it serves one city's listings; send this one to that city's model"
            )
        return value

    return Annotated[
        float,
        Field(
            strict=True,
            description=f"{description.rstrip('.')}, within the model's training area "
            f"[{low}, {high}].",
            json_schema_extra={"minimum": low, "maximum": high},
        ),
        AfterValidator(check),
    ]


def _number(spec: NumberField | CountField, bounds: tuple[float, float] | None) -> tuple[Any, Any]:
    limits: dict[str, Any] = {} if bounds is None else {"ge": bounds[0], "le": bounds[1]}
    if spec.description:
        limits["description"] = spec.description
    if isinstance(spec, CountField):
        kind: Any = WholeNumber
        limits |= {k: int(limits[k]) for k in ("ge", "le") if k in limits}
    else:
        kind = float
    if spec.nullable:
        return (kind | None, Field(None, strict=True, **limits))
    return (kind, Field(strict=True, **limits))


def _field(
    name: str, spec: Any, levels: Sequence[str] | None, bounds: tuple[float, float] | None
) -> tuple[Any, Any]:
    """The (type, default) of one declared field, for ``create_model``."""
    described = {"description": spec.description} if spec.description else {}
    if spec.kind == "flag":
        return (Flag | None, None) if spec.nullable else (Flag, ...)
    if isinstance(spec, CategoryField):
        given = levels if levels is not None else spec.levels if spec.levels != "learned" else None
        kind: Any = str if given is None else enum_of(camel(name), given)
        if spec.nullable:
            return (kind | None, Field(None, **described))
        return (kind, Field(**described))
    if isinstance(spec, LatitudeField | LongitudeField):
        description = spec.description or f"WGS84 {spec.kind}."
        if bounds is None:
            reach = 90 if spec.kind == "latitude" else 180
            return (float, Field(strict=True, ge=-reach, le=reach, description=description))
        return (_inside(spec.kind, bounds[0], bounds[1], description), ...)
    return _number(spec, bounds)


def declared_bounds(spec: Any, learned: tuple[float, float] | None) -> tuple[float, float] | None:
    """A field's bounds: the declared ones, else what the model learned (when declared so)."""
    given = getattr(spec, "bounds", None)
    if given == "learned":
        return learned
    return None if given is None else (float(given[0]), float(given[1]))


def request_model(
    project: Project,
    levels: Mapping[str, Sequence[str]] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    example: Mapping[str, Any] | None = None,
) -> type[Request]:
    """The request model of ``project`` for a model that learned these category ``levels``
    and field ``bounds``, with its ``example`` request in the schema (else the project's).
    ``levels`` None takes any text for a learned category (any coordinates when ``bounds``
    has none): for a service that follows production, whose levels change with the model (its
    request guard checks them against the model serving at the time)."""
    request = project.serving.request
    shown = dict(example) if example is not None else project.serving.example
    config = ConfigDict(json_schema_extra={"example": shown} if shown is not None else None)
    base = type(request.title, (Request,), {"model_config": config, "__module__": __name__})
    fields: dict[str, Any] = {
        project.id: (
            WholeNumber,
            Field(ge=0, le=ID_MAX, description=request.id_description),
        )
    }
    for name, spec in project.fields.items():
        known = None if levels is None else levels.get(name)
        fields[name] = _field(name, spec, known, declared_bounds(spec, (bounds or {}).get(name)))
    model: Any = create_model(
        request.title, __base__=base, __doc__=request.description or None, **fields
    )
    return cast(type[Request], model)


def classes_enum(project: Project, classes: Sequence[str]) -> type[Enum]:
    """The enum of a classifier's answers, named after the answer (``PriceCategory``)."""
    return enum_of(camel(project.answer), classes)


def answer_model(project: Project, classes: Sequence[str] | None = None) -> type[BaseModel]:
    """The answer model of ``project``: ``{id, <answer>, probabilities, model}`` for a
    classifier (its ``classes`` in their order, else the declared ones), ``{id, <answer>,
    model}`` for a regression."""
    response = project.serving.response
    answer: Any
    fields: dict[str, Any] = {"id": (int, Field(description=response.id_description))}
    if project.task == "classification":
        labels = classes if classes is not None else project.target.labels
        answer = str if labels is None else classes_enum(project, labels)
        fields[project.answer] = (answer, Field(description=project.target.description or None))
        fields["probabilities"] = (
            dict[str, float],
            Field(description="The model's probability of each class, in class order."),
        )
    else:
        fields[project.answer] = (
            float,
            Field(description=project.target.description or "The predicted value."),
        )
    fields["model"] = (str, Field(description="Tag of the model that answered."))
    config = ConfigDict(
        json_schema_extra={"example": response.example} if response.example else None
    )
    model: type[BaseModel] = create_model(
        response.title, __config__=config, __doc__=response.description or None, **fields
    )
    return model
