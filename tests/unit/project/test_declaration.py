"""The project file: its schema, its errors, which file a command reads, what a model saves."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mle_challenge.config import load_params
from mle_challenge.errors import ConfigError
from mle_challenge.project import (
    AIRBNB,
    declaration_bytes,
    load_project,
    parse_project,
    project_params,
    project_source,
)
from mle_challenge.project.declaration import CategoryField, CountField, NumberField
from mle_challenge.project.load import declaration_from_bytes

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def _airbnb() -> dict[str, Any]:
    return yaml.safe_load(AIRBNB.read_text())


def test_the_airbnb_project_declares_the_eleven_fields() -> None:
    """Check that the packaged project reads, with its kinds, target and serving."""
    project = load_project(AIRBNB)
    assert len(project.fields) == 11
    assert project.of_kind("category") == ("room_type", "neighbourhood")
    assert project.of_kind("flag") == ("tv", "elevator", "internet")
    assert isinstance(project.fields["accommodates"], CountField)
    assert isinstance(project.fields["bathrooms"], NumberField)
    assert project.fields["bathrooms"].nullable and not project.fields["accommodates"].nullable
    assert isinstance(project.fields["room_type"], CategoryField)
    assert project.target.labels == ("Low", "Mid", "High", "Lux")
    assert list(project.features.ratios) == [
        "guests_per_bedroom",
        "beds_per_guest",
        "baths_per_bedroom",
    ]
    assert (project.answer, project.serving.route, project.task) == (
        "price_category",
        "classify",
        "classification",
    )


def test_its_stage_parameters_are_params_yaml() -> None:
    """Check that the packaged project's stage sections are exactly the project's params.yaml,
    so that every command's default behaviour is unchanged."""
    assert project_params(load_project(AIRBNB)) == load_params(ROOT / "params.yaml")


def test_a_parameter_file_overrides_whole_sections(tmp_path: Path) -> None:
    """Check that a parameter file's sections replace the project's, and only those."""
    file = tmp_path / "p.yaml"
    file.write_text(
        "train: {candidates: {rf: {kind: baseline_random_forest}}}\nselect: {metric: accuracy}\n"
    )
    params = project_params(load_project(AIRBNB), load_params(file))
    assert list(params.train.candidates) == ["rf"]
    assert params.select.metric == "accuracy"
    assert params.gate.min_unseen_rows == 200  # the project's own section
    assert params.registry.model_name == "price_classifier"


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw.pop(key)


BAD = [
    ("a kind misspelt", _set("fields", "tv", value="flg"), "fields.tv: kind must be one of"),
    (
        "an unknown key in a field",
        _set("fields", "beds", value={"kind": "number", "bound": [0, 1]}),
        "fields.beds.bound: unknown key (check its spelling; the keys here are nullable",
    ),
    ("an unknown top key", _set("fieldz", value={}), "fieldz: unknown key"),
    (
        "bounds upside down",
        _set("fields", "beds", value={"kind": "number", "bounds": [5, 1]}),
        "fields.beds.bounds: bounds [5.0, 1.0] must be [lowest, highest]",
    ),
    (
        "a latitude off the globe",
        _set("fields", "latitude", value={"kind": "latitude", "bounds": [5, 100]}),
        "fields.latitude.bounds: bounds [5.0, 100.0] must lie within [-90, 90]",
    ),
    (
        "the target's column as a field",
        _set("fields", "price", value="number"),
        "the target's column 'price' is also a field",
    ),
    (
        "the id as a field",
        _set("fields", "id", value="count"),
        "the id column 'id' is also a field",
    ),
    (
        "a gate case on an undeclared field",
        _set("gate", "cases", 0, "listing", "pool", value=1),
        "names undeclared field(s) ['pool']",
    ),
    (
        "a gate case forbidding an unknown class",
        _set("gate", "cases", 0, "not", value="Cheap"),
        "not 'Cheap' is not one of ['Low', 'Mid', 'High', 'Lux']",
    ),
    (
        "a directional rule on a category",
        _set("gate", "directional", 0, "add", value={"room_type": 1}),
        "'room_type' is not a number or count field",
    ),
    (
        "a ratio of an undeclared field",
        _set("features", "ratios", "guests_per_bedroom", value=["accommodates", "rooms"]),
        "features.ratios.guests_per_bedroom: 'rooms' is not a declared number or count field",
    ),
    (
        "a ratio of a category",
        _set("features", "ratios", "beds_per_guest", value=["beds", "room_type"]),
        "features.ratios.beds_per_guest: 'room_type' is not a declared number or count field",
    ),
    (
        "a ratio of one field",
        _set("features", "ratios", "beds_per_guest", value=["beds"]),
        "features.ratios.beds_per_guest",
    ),
    (
        "a ratio named as a field",
        _set("features", "ratios", "beds", value=["beds", "bedrooms"]),
        "features.ratios.beds: the name is also a field",
    ),
    ("no id", _drop("id"), "id: required, add it"),
    (
        "edges that do not fit the labels",
        _set("target", "bins", "edges", value=[90, 180]),
        "4 labels need 3 edges",
    ),
    ("edges going down", _set("target", "bins", "edges", value=[90, 80, 400]), "must increase"),
    ("prepare not a function", _set("prepare", value="my code"), "must be module:function"),
    ("a name with capitals", _set("name", value="Price Classifier"), "invalid project name"),
    (
        "regression with bins",
        _set("target", "task", value="regression"),
        "a regression target names its numeric `column`",
    ),
    ("a route with a slash", _set("serving", "route", value="/classify"), "must be a plain word"),
    ("a reserved field name", _set("fields", "model", value="flag"), "must be a plain identifier"),
    (
        "two sources, no prepare",
        lambda raw: raw.update(sources={"a": "a.csv", "b": "b.csv"}, prepare="none"),
        "2 sources need a prepare function",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_project_file_says_which_key_and_the_fix(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    """Check that each mistake is one ConfigError naming the key (never a pydantic dump)."""
    raw = copy.deepcopy(_airbnb())
    change(raw)
    with pytest.raises(ConfigError) as caught:
        parse_project(raw, "p.yaml")
    message = str(caught.value)
    assert message.startswith("invalid project file p.yaml: ")
    assert expected in message
    assert "validation error" not in message and "pydantic" not in message


def test_short_forms_read_as_their_long_forms() -> None:
    """Check that `tv: flag` and `sources: path` are the long forms."""
    raw = _airbnb() | {"sources": "data/listings.csv"}
    project = parse_project(raw)
    assert project.sources[0].name == "data" and project.sources[0].url == "data/listings.csv"
    assert project.fields["tv"].kind == "flag" and project.fields["tv"].nullable is False


def test_not_a_mapping_is_one_line(tmp_path: Path) -> None:
    """Check that a YAML list or broken YAML is refused with the file named."""
    file = tmp_path / "p.yaml"
    file.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_project(file)
    file.write_text("name: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_project(file)


def test_which_project_a_command_reads(tmp_path: Path) -> None:
    """Check --project, then MLE_PROJECT, then the packaged Airbnb project; a named file must
    exist, and the error says how to write one."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: x\n")
    env = {"MLE_PROJECT": str(tmp_path / "env.yaml")}
    assert project_source(mine, env).origin == "--project"
    assert project_source(None, {}).path == AIRBNB
    assert project_source(None, {}).packaged
    with pytest.raises(ConfigError, match=r"MLE_PROJECT.*mle-challenge init"):
        project_source(None, env)
    with pytest.raises(ConfigError, match="given by --project"):
        project_source(tmp_path / "absent.yaml", {})


def test_the_saved_declaration_round_trips() -> None:
    """Check that what a model saves reads back as the same project, bytes stable."""
    project = load_project(AIRBNB)
    saved = declaration_bytes(project)
    assert declaration_from_bytes(saved) == project
    assert declaration_bytes(declaration_from_bytes(saved)) == saved


def test_a_corrupt_saved_declaration_is_one_line() -> None:
    """Check that a saved declaration that is not JSON (or too deep) is a ConfigError."""
    with pytest.raises(ConfigError, match="not valid JSON"):
        declaration_from_bytes(b"[" * 100_000)
