"""A model's way to production and back: ``gate`` judges it, ``promote`` and ``rollback`` move
its name's production alias."""

from __future__ import annotations

import click

from mle_challenge.cli.options import (
    DEFAULT_NAME,
    PARAMS,
    PROJECT,
    check_tag_of,
    model_name_option,
    named_project,
    project_model_name,
)


@click.command("gate")
@click.argument("tag")
@PROJECT
@PARAMS
@click.option(
    "--held-out",
    default=None,
    help="API-shaped rows with a `category` column (default: the pipeline's test rows).",
)
def gate_command(
    tag: str, project_path: str | None, params_path: str | None, held_out: str | None
) -> None:
    """Run the quality gate on TAG; exits 1 when a check fails. The result is kept with the
    model, and `promote` reads it. With --project: its gate section and cases, and TAG must
    be a model of its name."""
    from mle_challenge.data.sources import read_table
    from mle_challenge.lifecycle import production, store
    from mle_challenge.lifecycle.gate import run_gate
    from mle_challenge.lifecycle.registry import resolve_tag
    from mle_challenge.project import stage_params

    project = named_project(project_path)
    exact = store.verified(resolve_tag(tag))
    check_tag_of(exact, project, project_path)
    params, origin = stage_params(project_path, params_path)
    source = held_out or store.read_card(exact).get("held_out")
    if source is None:
        raise click.UsageError(
            f"no held-out rows recorded for {exact}: pass --held-out PATH (API-shaped rows with "
            "a `category` column), or gate it through the pipeline."
        )
    rows = read_table(str(source))
    current = production.production_tag(exact.split(":")[0])
    result = run_gate(exact, rows, params.gate, current, project)
    store.update_card(exact, gate=result.as_dict(), held_out=str(source))
    click.echo(origin)
    click.echo(result.table())
    if not result.passed:
        raise click.exceptions.Exit(1)


@click.command("promote")
@click.argument("tag")
@click.option("--reason", default="", help="Why; required with --force.")
@click.option("--force", is_flag=True, help="Promote even though the gate failed or never ran.")
@PROJECT
def promote_command(tag: str, reason: str, force: bool, project_path: str | None) -> None:
    """Make TAG the production model of its name (refused when its gate failed, unless
    --force): promoting price_classifier_boston:<v> moves only that name's alias. With
    --project, TAG must be a model of its name."""
    from mle_challenge.lifecycle import production

    check_tag_of(tag, named_project(project_path), project_path)
    alias = production.promote(tag, reason=reason, force=force)
    click.echo(f"production: {alias.tag}")


@click.command("rollback")
@click.option("--reason", default="", help="Why, for the history.")
@PROJECT
@model_name_option(
    "Whose production to roll back, one registered name per city [default: the project's "
    "model name, else price_classifier].",
    default=None,
)
def rollback_command(reason: str, project_path: str | None, model_name: str | None) -> None:
    """Return MODEL_NAME's (or the project's) production to the model it replaced."""
    from mle_challenge.lifecycle import production

    name = project_model_name(project_path, model_name) or DEFAULT_NAME
    alias = production.rollback(name, reason=reason)
    click.echo(f"production: {alias.tag}")
