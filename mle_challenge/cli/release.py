"""A model's way to production and back: ``gate`` judges it, ``promote`` and ``rollback`` move
its name's production alias."""

from __future__ import annotations

import click

from mle_challenge.cli.options import PARAMS, model_name_option


@click.command("gate")
@click.argument("tag")
@PARAMS
@click.option(
    "--held-out",
    default=None,
    help="API-shaped rows with a `category` column (default: the pipeline's test rows).",
)
def gate_command(tag: str, params_path: str | None, held_out: str | None) -> None:
    """Run the quality gate on TAG; exits 1 when a check fails. The result is kept with the
    model, and `promote` reads it."""
    from mle_challenge.config import load_params, params_source
    from mle_challenge.data.sources import read_table
    from mle_challenge.lifecycle import production, store
    from mle_challenge.lifecycle.gate import run_gate
    from mle_challenge.lifecycle.registry import resolve_tag

    exact = store.verified(resolve_tag(tag))
    params_file = params_source(params_path)
    params = load_params(params_file.path)
    source = held_out or store.read_card(exact).get("held_out")
    if source is None:
        raise click.UsageError(
            f"no held-out rows recorded for {exact}: pass --held-out PATH (API-shaped rows with "
            "a `category` column), or gate it through the pipeline."
        )
    rows = read_table(str(source))
    current = production.production_tag(exact.split(":")[0])
    result = run_gate(exact, rows, params.gate, current)
    store.update_card(exact, gate=result.as_dict(), held_out=str(source))
    click.echo(params_file.describe())
    click.echo(result.table())
    if not result.passed:
        raise click.exceptions.Exit(1)


@click.command("promote")
@click.argument("tag")
@click.option("--reason", default="", help="Why; required with --force.")
@click.option("--force", is_flag=True, help="Promote even though the gate failed or never ran.")
def promote_command(tag: str, reason: str, force: bool) -> None:
    """Make TAG the production model of its name (refused when its gate failed, unless
    --force): promoting price_classifier_boston:<v> moves only that name's alias."""
    from mle_challenge.lifecycle import production

    alias = production.promote(tag, reason=reason, force=force)
    click.echo(f"production: {alias.tag}")


@click.command("rollback")
@click.option("--reason", default="", help="Why, for the history.")
@model_name_option("Whose production to roll back, one registered name per city.")
def rollback_command(reason: str, model_name: str) -> None:
    """Return MODEL_NAME's production to the model it replaced."""
    from mle_challenge.lifecycle import production

    alias = production.rollback(model_name, reason=reason)
    click.echo(f"production: {alias.tag}")
