"""The project declaration: one file that says what the problem is.

A project file (YAML) names the data's sources, how they are prepared, the id column, the
target and its task, and every field the model reads with its kind (``number``, ``count``,
``flag``, ``category``, ``latitude``, ``longitude``). Cleaning checks, the request and answer
models of the service, the prediction log's fields, the drift profile and the gate's cases are
derived from it, and every model saves the declaration it was trained with
(:func:`declaration_bytes`), so a service builds its types from its model, not from the code.

The Inside Airbnb price category is the first project: its file ships inside the package
(:data:`AIRBNB`), and every command's default is that file.

May import: ``config`` and ``errors`` only; every other part may import it.
"""

from mle_challenge.project.declaration import (
    Bins,
    CategoryField,
    CountField,
    Field,
    FlagField,
    GateCase,
    GateSection,
    LatitudeField,
    LongitudeField,
    NumberField,
    Project,
    Serving,
    Source,
    Target,
)
from mle_challenge.project.load import (
    AIRBNB,
    PROJECT_FILE,
    ProjectSource,
    airbnb,
    declaration_bytes,
    load_project,
    parse_project,
    project_params,
    project_source,
    saved_project,
    stage_params,
)

__all__ = [
    "AIRBNB",
    "PROJECT_FILE",
    "Bins",
    "CategoryField",
    "CountField",
    "Field",
    "FlagField",
    "GateCase",
    "GateSection",
    "LatitudeField",
    "LongitudeField",
    "NumberField",
    "Project",
    "ProjectSource",
    "Serving",
    "Source",
    "Target",
    "airbnb",
    "declaration_bytes",
    "load_project",
    "parse_project",
    "project_params",
    "project_source",
    "saved_project",
    "stage_params",
]
