"""The package's parts import only the parts below them, and nothing outside production."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mle_challenge"

# Lowest first: a module may import its own part and the parts with a lower rank, never higher.
RANKS = {
    "mle_challenge": 0,  # the root: CATEGORIES, __version__
    "mle_challenge.errors": 0,
    "mle_challenge.config": 0,
    # The project declaration: what every part derives its fields from; imports config only.
    "mle_challenge.project": 0,
    "mle_challenge.data": 1,
    "mle_challenge.model": 2,
    # A project's own code (the Airbnb project's baseline, its old models' classes): it uses
    # the model's generic parts; the model finds it by name (train.PROJECT_KINDS), never imports.
    "mle_challenge.airbnb": 2.5,
    "mle_challenge.lifecycle": 3,
    "mle_challenge.monitoring": 4,
    "mle_challenge.batch": 5,
    "mle_challenge.serving": 6,
    "mle_challenge.pipeline": 7,
    "mle_challenge.service": 7,
    "mle_challenge.schedule": 8,  # scheduled retraining: runs the pipeline, monitors, promotes
    "mle_challenge.cli": 9,
}


def _part(module: str) -> str:
    """The entry of RANKS that owns ``module`` (the longest matching prefix)."""
    names = [n for n in RANKS if module == n or module.startswith(n + ".")]
    assert names, f"{module} belongs to no part: add its part to RANKS"
    return max(names, key=len)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every ``mle_challenge`` module that ``path`` imports, at any depth of its code."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "mle_challenge"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "mle_challenge":
                # `from mle_challenge.data import clean` imports the module data.clean
                found += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: use absolute imports (from mle_challenge...)")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.unit
@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path: Path) -> None:
    """Check that a module imports only its own part and the parts below it."""
    importer = _module_name(path)
    rank = RANKS[_part(importer)]
    upward = [
        name
        for name in _imports(path)
        if RANKS[_part(name)] > rank
        or (RANKS[_part(name)] == rank and _part(name) != _part(importer) and rank > 0)
    ]
    assert not upward, f"{importer} imports {upward}, which sit above it in the layering"


@pytest.mark.unit
def test_the_parts_are_folders() -> None:
    """Check that the parts are subpackages and only the fronts and shared modules sit on top."""
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == {"__init__", "config", "errors", "service"}
    parts = (
        *("project", "data", "model", "lifecycle", "monitoring", "batch", "serving"),
        *("pipeline", "schedule", "cli"),
    )
    projects = ("airbnb",)  # a project's own code, beside the parts: it says what it holds
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert found == {*parts, *projects}
    for part in parts:
        doc = ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"{part}/__init__.py must say what it may import"


@pytest.mark.unit
def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """Check that the import walk sees a function-level import of a higher part."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from mle_challenge.serving.bento import build_bento\n")
    assert _imports(module) == ["mle_challenge.serving.bento.build_bento"]
    assert RANKS[_part("mle_challenge.serving.bento.build_bento")] > RANKS["mle_challenge.data"]


FRONT_LINES = 300  # a front's module past this holds more than one idea: split it


@pytest.mark.unit
@pytest.mark.parametrize("front", ["pipeline", "schedule", "cli"])
def test_the_fronts_are_small_modules(front: str) -> None:
    """Check that the pipeline's, the scheduler's and the command line's modules each stay
    under 300 lines."""
    sizes = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / front).glob("*.py")}
    assert len(sizes) > 3, f"{front} is one module again"
    assert not {n: s for n, s in sizes.items() if s > FRONT_LINES}, sizes
