"""Reading a project file: which one a command uses, its errors, and what a model saves of it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ValidationError

from mle_challenge.config import (
    GateParams,
    Params,
    RegisterParams,
    load_params,
    params_source,
    read_yaml,
    validation_message,
)
from mle_challenge.errors import ConfigError
from mle_challenge.project.declaration import (
    KINDS,
    CategoryField,
    CountField,
    FlagField,
    LatitudeField,
    LongitudeField,
    NumberField,
    Project,
)

AIRBNB = Path(__file__).with_name("airbnb.yaml")
"""The Inside Airbnb price-category project, packaged: every command's default."""

PROJECT_FILE = "project.json"
"""The declaration a registered model was trained with, in its folder (covered by its hash)."""

_FIELD_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["kind"].default: model
    for model in (
        NumberField,
        CountField,
        FlagField,
        CategoryField,
        LatitudeField,
        LongitudeField,
    )
}


@dataclass(frozen=True)
class ProjectSource:
    """The project file a command reads, and why that one."""

    path: Path  # absolute, so a Luigi parameter or a child process reads the same file
    origin: Literal["--project", "MLE_PROJECT", "packaged default"]

    @property
    def packaged(self) -> bool:
        return self.origin == "packaged default"

    def describe(self) -> str:
        """One line for a run's summary: ``project: /abs/project.yaml (--project)``."""
        return f"project: {self.path} ({self.origin})"


def project_source(
    given: str | Path | None, environ: dict[str, str] | None = None
) -> ProjectSource:
    """``given`` (``--project``), else ``MLE_PROJECT``, else the packaged Airbnb project. A file
    that was named must exist."""
    env = os.environ if environ is None else environ
    for value, origin in ((given, "--project"), (env.get("MLE_PROJECT") or None, "MLE_PROJECT")):
        if value is None:
            continue
        path = Path(value).absolute()
        if not path.is_file():
            raise ConfigError(
                f"project file not found: {path} (given by {origin}). Correct the path, or "
                "write one with `mle-challenge init --data FILE --target COLUMN --output "
                "project.yaml`."
            )
        return ProjectSource(path, origin)  # type: ignore[arg-type]
    return ProjectSource(AIRBNB, "packaged default")


def load_project(path: str | Path) -> Project:
    """Read and validate a project file; errors name the file and the key, and say the fix."""
    file = Path(path)
    return parse_project(read_yaml(file, "project", "--project"), str(file))


def parse_project(raw: Any, source: str = "the project") -> Project:
    """Validate ``raw`` (the file's YAML) as a project; :class:`ConfigError` names each problem."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source} must be a YAML mapping with name, sources, id, target, fields, serving "
            f"and train; got {type(raw).__name__}"
        )
    try:
        return Project.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(f"invalid project file {source}: {problems}") from exc


def _problem(error: Any) -> str:
    loc = _without_tags(tuple(error["loc"]))
    where = ".".join(str(p) for p in loc) or "project"
    message = validation_message(str(error["msg"]))
    if error["type"] == "extra_forbidden":
        keys = _keys_at(tuple(error["loc"])[:-1])
        hint = f"; the keys here are {', '.join(keys)}" if keys else ""
        return f"{where}: unknown key (check its spelling{hint})"
    if error["type"] == "union_tag_invalid":
        return f"{where}: kind must be one of {', '.join(KINDS)}"
    if error["type"] == "missing":
        return f"{where}: required, add it"
    return f"{where}: {message}"


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts a field's kind after its name (fields.size.number.bounds): not a key.
    if len(loc) >= 3 and loc[0] == "fields" and loc[2] in KINDS:
        return loc[:2] + loc[3:]
    return loc


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc`` takes, to suggest in place of an unknown one."""
    model: Any = Project
    if len(loc) >= 3 and loc[0] == "fields" and loc[2] in _FIELD_MODELS:
        model, loc = _FIELD_MODELS[loc[2]], loc[3:]
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the same model
        info = model.model_fields.get(str(part)) if _is_model(model) else None
        if info is None:
            return []
        nested = [a for a in (info.annotation, *get_args(info.annotation)) if _is_model(a)]
        model = nested[0] if nested else None
    if not _is_model(model):
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def project_params(project: Project, override: Params | None = None) -> Params:
    """The stage parameters of ``project``, as the pipeline's tasks read them: each section of
    ``override`` (a parameter file) replaces the project's own."""
    bins = project.target.bins
    # params.yaml's `prices` is the four price categories' edges: a project of four binned
    # classes gives its own; any other keeps the default, which nothing of it reads.
    prices = {"edges": bins.edges} if bins is not None and len(bins.labels) == 4 else {}
    params = Params.model_validate(
        {
            "prices": prices,
            "split": project.split.model_dump(),
            "train": project.train.model_dump(),
            "select": project.select.model_dump(),
            "register": RegisterParams(model_name=project.serving.model_name).model_dump(),
            "gate": project.gate.model_dump(include=set(GateParams.model_fields)),
            "monitor": project.monitor.model_dump(),
        }
    )
    if override is None:
        return params
    given = override.model_fields_set
    return params.model_copy(update={k: getattr(override, k) for k in given})


def stage_params(project: str | Path | None, params: str | Path | None) -> tuple[Params, str]:
    """The stage parameters a command uses, and one line saying where they come from.

    A named project (``--project`` or ``MLE_PROJECT``): its sections, each replaced by that of
    ``--params`` when one is given (never by a ``./params.yaml`` that happens to lie in the
    current folder: the file is the project). None named: as before projects, ``--params``,
    else ``./params.yaml``, else the packaged defaults."""
    source = project_source(project)
    if source.packaged:
        file = params_source(params)
        return load_params(file.path), file.describe()
    override = params_source(params) if params is not None else None
    loaded = project_params(
        load_project(source.path), load_params(override.path) if override else None
    )
    return loaded, source.describe() + (f"; {override.describe()}" if override else "")


def declaration_bytes(project: Project) -> bytes:
    """The declaration a model saves: canonical JSON, so equal projects give equal bytes (and
    equal cache keys)."""
    data = project.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def declaration_from_bytes(data: bytes, source: str = "the model's saved declaration") -> Project:
    """A saved declaration read back (a model's ``project.json``)."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}") from exc
    return parse_project(raw, source)


@lru_cache(maxsize=1)
def airbnb() -> Project:
    """The packaged Airbnb project, read once (it is package data: it cannot change)."""
    return load_project(AIRBNB)


def saved_project(model_folder: Path) -> Project:
    """The declaration saved in a model's folder; the Airbnb project for a model registered
    before models saved theirs (every model then was one of its price classifiers)."""
    file = model_folder / PROJECT_FILE
    if not file.is_file():
        return airbnb()
    return declaration_from_bytes(file.read_bytes(), f"{file}")
