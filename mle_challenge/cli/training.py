"""``train``: the training pipeline, once; ``luigid``: the central scheduler its workers share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mle_challenge.cli.options import PARAMS, model_name_option
from mle_challenge.errors import MleError


@click.command("train")
@click.option("--listings", "source", required=True, help="Path, http(s):// or s3:// URL.")
@PARAMS
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Luigi workers: candidates train in parallel with 2 or more.",
)
@click.option(
    "--scheduler-url",
    default=None,
    help="Luigi central scheduler, e.g. http://127.0.0.1:8082 (default: local).",
)
@click.option("--outputs", default="outputs", show_default=True, help="Folder for outputs.")
@click.option("--promote", is_flag=True, help="Promote the model to production if its gate passes.")
@model_name_option(
    "The registered name, one per city (price_classifier_boston) [default: the params' "
    "register.model_name, else price_classifier].",
    default=None,
)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Also write {"ok", "tag", "gate", "summary"} there (what `schedule` reads).',
)
def train_command(
    source: str,
    params_path: str | None,
    workers: int,
    scheduler_url: str | None,
    outputs: str,
    promote: bool,
    model_name: str | None,
    summary_json: Path | None,
) -> None:
    """Run the training pipeline: clean → split → train → evaluate → select → register → gate.

    The model is registered as MODEL_NAME:<version>; one name per city keeps several cities
    in one store, each with its own production alias."""
    from mle_challenge.config import params_source
    from mle_challenge.lifecycle.gate import GateResult
    from mle_challenge.pipeline import run_training

    try:
        params = params_source(params_path)
        click.echo(params.describe())  # before the run: its progress follows on stderr
        outcome = run_training(
            source, str(params.path), outputs, workers, scheduler_url, model_name=model_name
        )
    except MleError as exc:
        _write_training_summary(summary_json, ok=False, summary=f"error: {exc}")
        raise
    _write_training_summary(
        summary_json, ok=outcome.ok, summary=outcome.summary, tag=outcome.tag, gate=outcome.gate
    )
    click.echo(outcome.summary)
    if not outcome.ok:
        raise click.exceptions.Exit(1)
    click.echo(outcome.table)
    assert outcome.gate is not None and outcome.tag is not None
    gate = GateResult.from_dict(outcome.gate)
    click.echo(gate.table())
    if promote:
        if not gate.passed:
            click.echo(f"not promoted: {outcome.tag} failed its gate", err=True)
            raise click.exceptions.Exit(1)
        from mle_challenge.lifecycle import production

        alias = production.promote(outcome.tag, reason=f"trained on {source}")
        click.echo(f"production: {alias.tag}")


def _write_training_summary(path: Path | None, **fields: Any) -> None:
    """The run's result as JSON for a program: written whole (a reader never sees half)."""
    if path is None:
        return
    from mle_challenge.lifecycle.store import write_json_atomic

    write_json_atomic(path, {"tag": None, "gate": None, **fields})


@click.command("luigid")
@click.option(
    "--outputs",
    default="outputs",
    show_default=True,
    help="The pipeline's outputs (a folder or s3://bucket/prefix): the state is kept there.",
)
@click.option("--address", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8082, show_default=True)
def luigid_command(outputs: str, address: str, port: int) -> None:
    """Luigi's central scheduler, for training workers on several machines.

    Workers pass ``--scheduler-url http://HOST:PORT`` to ``train`` or ``schedule``; with the
    same shared ``--outputs s3://...`` each task runs once, on one of them. It binds loopback
    unless told otherwise, and keeps its state (the task graph, across restarts) under the
    outputs' folder on this machine: ``<outputs>/luigid/state.pickle``.
    """
    import os
    import shutil

    from mle_challenge.lifecycle.outputs import Outputs

    folder = Outputs(outputs).local / "luigid"
    folder.mkdir(parents=True, exist_ok=True)
    found = shutil.which("luigid", path=str(Path(sys.executable).parent)) or shutil.which("luigid")
    if found is None:
        raise MleError("luigid is not installed: make install (it comes with luigi)")
    state = str(folder / "state.pickle")
    click.echo(f"luigid on http://{address}:{port}, state in {state}")
    sys.stdout.flush()
    arguments = ["--address", address, "--port", str(port), "--state-path", state]
    os.execv(found, [found, *arguments])
