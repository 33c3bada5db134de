"""Which parameter file a command reads: --params, else ./params.yaml, else the packaged copy."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
import pytest

from mle_challenge.cli import cli
from mle_challenge.config import PACKAGED_PARAMS, load_params, params_source
from mle_challenge.errors import ConfigError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_params_match_the_project() -> None:
    """Check that the packaged defaults are the project's params.yaml, byte for byte."""
    assert PACKAGED_PARAMS.read_bytes() == (ROOT / "params.yaml").read_bytes(), (
        "mle_challenge/params.yaml (the defaults installed with the package) differs from the "
        "project's params.yaml: after editing params.yaml, copy it over with "
        "`cp params.yaml mle_challenge/params.yaml`"
    )


def test_packaged_params_ship_and_validate() -> None:
    """Check that the packaged defaults are package data and a valid parameter file."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "params.yaml" in pyproject["tool"]["setuptools"]["package-data"]["mle_challenge"]
    assert PACKAGED_PARAMS.parent == ROOT / "mle_challenge"
    assert load_params(PACKAGED_PARAMS).train.candidates


def _write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("train: {candidates: {a: {kind: baseline_random_forest}}}\n")
    return path


def test_explicit_file_wins(tmp_path: Path) -> None:
    """Check that --params is read even when the folder has a params.yaml of its own."""
    _write(tmp_path / "params.yaml")
    given = _write(tmp_path / "other" / "mine.yaml")
    source = params_source(str(given), folder=tmp_path)
    assert (source.path, source.origin) == (given, "--params")


def test_explicit_relative_file_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that a relative --params becomes an absolute path (Luigi and child processes)."""
    _write(tmp_path / "conf" / "p.yaml")
    monkeypatch.chdir(tmp_path)
    assert params_source("conf/p.yaml").path == tmp_path / "conf" / "p.yaml"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """Check that a missing --params file is an error naming it, not a silent fallback."""
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="parameter file not found") as info:
        params_source(str(missing), folder=tmp_path)
    assert str(missing) in str(info.value) and "--params" in str(info.value)


def test_current_folder_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that without --params the current folder's params.yaml is read."""
    local = _write(tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    source = params_source(None)
    assert (source.path, source.origin) == (local, "current folder")
    assert source.describe() == f"parameters: {local} (current folder)"


def test_packaged_fallback(tmp_path: Path) -> None:
    """Check that without --params or a params.yaml in the folder the packaged copy is read."""
    (tmp_path / "params.yaml").mkdir()  # a folder by that name is not a parameter file
    source = params_source(None, folder=tmp_path)
    assert (source.path, source.origin) == (PACKAGED_PARAMS, "packaged defaults")
    assert source.describe().endswith("(packaged defaults)")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_params_option_defaults_to_the_resolution() -> None:
    """Check that no command's --params has a default path that would skip the resolution."""
    options = [
        (name, p)
        for name, command in _commands(cli)
        for p in command.params
        if "--params" in getattr(p, "opts", [])
    ]
    assert {name for name, _ in options} >= {"train", "monitor", "schedule", "gate"}
    assert [name for name, p in options if p.default is not None] == []
