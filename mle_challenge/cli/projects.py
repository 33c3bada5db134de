"""``init``: a project file written from data, with what was inferred printed (the inference is
:mod:`mle_challenge.project.infer`; here the sources are read and a team's prepare is run)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mle_challenge.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

_NAMED = re.compile(r"^([A-Za-z_]\w*)=(.+)$")
_REMOTE = ("http://", "https://", "s3://")


def parse_data(values: tuple[str, ...]) -> dict[str, str]:
    """``--data PATH`` (named ``data``) or ``--data NAME=PATH``, each name once."""
    named: dict[str, str] = {}
    for value in values:
        match = None if value.startswith(_REMOTE) else _NAMED.match(value)
        name, url = (match.group(1), match.group(2)) if match else (_stem(value), value)
        if len(values) == 1 and not match:
            name = "data"
        if name in named:
            raise click.BadParameter(
                f"two sources are named {name!r}: name each, --data NAME=PATH", param_hint="--data"
            )
        named[name] = url
    return named


def _stem(url: str) -> str:
    base = url.rstrip("/").rsplit("/", 1)[-1].split(".")[0]
    return re.sub(r"\W+", "_", base) or "data"


def written_url(url: str, folder: Path) -> str:
    """A source as the project file names it: a local path relative to the file's folder (where
    the project reads it from), a URL as it is."""
    if url.startswith(_REMOTE):
        return url
    return os.path.relpath(Path(url).absolute(), folder.absolute())


def load_prepare(spec: str) -> Any:
    """The team's ``module:function``, imported from the current folder or PYTHONPATH.

    Our own small loader, for ``init`` only: the pipeline's (branch generic-prepare) also
    hashes the function's file for its cache, which a one-off inference does not need."""
    import importlib
    import sys

    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise click.BadParameter(f"{spec!r} is not module:function", param_hint="--prepare")
    here = str(Path.cwd())
    if here not in sys.path and "" not in sys.path:  # a console script's path lacks the cwd
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import {module_name} for --prepare {spec}: {exc}; run from the folder that "
            "holds it, or add that folder to PYTHONPATH"
        ) from exc
    found = getattr(module, function, None)
    if not callable(found):
        raise ConfigError(f"--prepare {spec}: {module_name} has no function {function!r}")
    return found


def read_sources(sources: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each source as a table: CSV with every cell as text (as the pipeline reads it),
    Parquet as typed."""
    from mle_challenge.data.sources import read_csv_strings, read_table

    return {
        name: read_table(url) if url.endswith((".parquet", ".pq")) else read_csv_strings(url)
        for name, url in sources.items()
    }


def prepared(tables: dict[str, pd.DataFrame], prepare: str | None) -> pd.DataFrame:
    """The one table the project is inferred from: the single source, or ``prepare``'s."""
    import pandas as pd

    if prepare is None:
        if len(tables) > 1:
            raise click.UsageError(
                f"{len(tables)} sources need --prepare module:function to join them into one table"
            )
        return next(iter(tables.values()))
    function = load_prepare(prepare)
    try:
        table = function(tables)
    except Exception as exc:  # the team's code: whatever it raises is its message to show
        raise ConfigError(f"prepare {prepare} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(f"prepare {prepare} returned {type(table).__name__}, not a DataFrame")
    return table


@click.command("init")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    help="A source: PATH_OR_URL, or NAME=PATH_OR_URL (repeat for several, with --prepare).",
)
@click.option(
    "--prepare",
    default=None,
    help="module:function making one table of the sources (importable from here or PYTHONPATH).",
)
@click.option("--target", required=True, help="The column the model answers.")
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    default=None,
    help="[default: inferred from the target: text or few whole numbers is classification]",
)
@click.option("--id", "id_column", default=None, help="The id column [default: `id`].")
@click.option("--name", default=None, help="The project's name [default: the first source's].")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The project file to write, e.g. project.yaml.",
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
def init_command(
    data: tuple[str, ...],
    prepare: str | None,
    target: str,
    task: str | None,
    id_column: str | None,
    name: str | None,
    output: Path,
    force: bool,
) -> None:
    """Write a project file inferred from data, and print what was inferred: each field's kind
    and range, the task and classes, and the columns and rows left out with the reason for
    each. Edit the file, then pass it to any command as --project."""
    from mle_challenge.project import load_project
    from mle_challenge.project.infer import infer_project, project_name
    from mle_challenge.project.render import project_yaml, summary_lines

    if output.exists() and not force:
        raise click.UsageError(f"{output} exists: choose another --output, or add --force")
    sources = parse_data(data)
    table = prepared(read_sources(sources), prepare)
    inference = infer_project(
        table,
        target=target,
        sources={k: written_url(v, output.parent) for k, v in sources.items()},
        name=project_name(name, next(iter(sources)) if len(sources) > 1 else _stem(data[0])),
        task=task,
        id_column=id_column,
        prepare=prepare or "none",
    )
    header = (
        f"# Written by `mle-challenge init` from {', '.join(sources.values())}; edit it and "
        "re-run.\n# The kinds and keys: docs/projects.md."
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(project_yaml(inference, header))
    load_project(output)  # what was written reads back, or this is our bug, said here
    for line in summary_lines(inference):
        click.echo(line)
    click.echo(f"wrote {output}: pass it as --project {output} (or MLE_PROJECT)")
