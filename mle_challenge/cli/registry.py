"""``models``: the registered models of one name, their production history, and their way
between stores (accept an import, push to and pull from S3)."""

from __future__ import annotations

from typing import Any

import click

from mle_challenge.cli.options import (
    ALLOW_UNSIGNED,
    DEFAULT_NAME,
    PROJECT,
    model_name_option,
    project_model_name,
)
from mle_challenge.cli.output import WholeHelpGroup, table_lines
from mle_challenge.errors import MleError


@click.group(cls=WholeHelpGroup)
def models() -> None:
    """Registered models: list, history of production, push to and pull from S3."""


_NAME_HELP = "Which city's models, one registered name each [default: the project's model name]."


@models.command("list")
@PROJECT
@model_name_option(_NAME_HELP + " Neither: every name in the store.", default=None)
def models_list(project_path: str | None, model_name: str | None) -> None:
    """Tag, creation time, key metrics and gate result of MODEL_NAME's (or the project's)
    models, its production model marked; without either, every name's, so every project's
    production shows. The metrics are each registered model's own (a refit's, not its
    candidate's), on its held-out test rows."""
    from mle_challenge.lifecycle import production

    name = project_model_name(project_path, model_name)
    names = [name] if name is not None else production.model_names()
    found = [production.listing(n) for n in names]
    rows = [row for listing in found for row in listing.rows]
    if not rows:
        which = f"named {name}" if name is not None else "in this store"
        click.echo(f"no registered models {which}: train one with `make run`")
    else:
        header = ["tag", "created", "candidate", "test acc", "test F1", "test AUC", "gate"]
        cells = [_model_cells(r) for r in rows]
        for line in table_lines([*header, "stage"], cells, right=frozenset({3, 4, 5})):
            click.echo(line)
    problems = [f.alias_problem for f in found if f.alias_problem is not None]
    if problems:  # the rows are listed; an alias that is not trusted marks none
        raise MleError(f"{' '.join(problems)} No model is marked production.")


def _model_cells(r: dict[str, Any]) -> list[str]:
    """One row of `models list`; a damaged model: its tag and the problem only. Metadata its
    content hash does not cover is marked."""
    if r["problem"] is not None:
        return [r["tag"], f"DAMAGED: {r['problem']}"]

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    metrics = [fmt(r["accuracy"]), fmt(r["macro_f1"]), fmt(r["roc_auc_ovr"])]
    stage = "production" if r["production"] else ""
    if not r["metadata_verified"]:
        stage = f"{stage} (metadata unverified: older hash)".strip()
    return [r["tag"], str(r["created"]), str(r["candidate"]), *metrics, str(r["gate"]), stage]


@models.command("history")
@PROJECT
@model_name_option(_NAME_HELP + " [else price_classifier]", default=None)
def models_history(project_path: str | None, model_name: str | None) -> None:
    """The append-only log of MODEL_NAME's (or the project's) promotions, rollbacks and
    scheduled runs (with their outcome)."""
    from mle_challenge.lifecycle import production

    name = project_model_name(project_path, model_name) or DEFAULT_NAME
    events = production.history(name)
    if not events:
        click.echo(f"no promotions, rollbacks or scheduled runs of {name} yet")
    for e in events:
        note = e.get("reason", "")
        moved = f"{e.get('from') or '-'} → {e.get('to') or '-'}"
        if "outcome" in e:  # a scheduled run: what came of it, and the model it trained
            if e.get("from") == e.get("to"):  # production stayed: say so, not "A → A"
                moved = f"{e.get('to') or '-'} stays"
            trained = f", its model {e['tag']}" if e.get("tag") else ""
            note = f"[run {e['outcome']}{trained}] {note}"
        click.echo(f"{e['time']}  {e['action']:<8} {e['user']:<10} {moved}  {note}")


@models.command("accept")
@click.argument("tag")
@click.option(
    "--trust",
    is_flag=True,
    help="Record it even without a seal signed with MLE_SIGNING_KEY: you vouch for its files.",
)
def models_accept(tag: str, trust: bool) -> None:
    """Check and record TAG, a model brought by `bentoml models import` (which carries no
    record of ours): its seal, signed with MLE_SIGNING_KEY where it was registered, must
    match its files; without one, only with --trust. It arrives "not gated here"."""
    from mle_challenge.lifecycle import production, store
    from mle_challenge.lifecycle.registry import resolve_tag

    accepted = store.accept(resolve_tag(tag), trust=trust, user=production.user_name())
    how = "its signed seal matches" if accepted.signed else "trusted by you, without a seal"
    click.echo(f"accepted {accepted.tag} ({how}; not gated here): {accepted.content_hash}")


@models.command("push")
@click.argument("tag")
@click.argument("prefix")
@ALLOW_UNSIGNED
def models_push(tag: str, prefix: str, allow_unsigned: bool) -> None:
    """Export TAG to PREFIX (s3://bucket/prefix) with a manifest signed with MLE_SIGNING_KEY;
    prints the archive URL as its last line."""
    from mle_challenge.lifecycle.remote import push_model

    click.echo(push_model(tag, prefix, allow_unsigned=allow_unsigned))


@models.command("pull")
@click.argument("url")
@ALLOW_UNSIGNED
def models_pull(url: str, allow_unsigned: bool) -> None:
    """Import the model pushed at URL after checking its signature and hashes. It arrives
    "not gated here": run `mle-challenge gate` on it before promoting it."""
    from mle_challenge.lifecycle.remote import pull_model

    click.echo(f"pulled {pull_model(url, allow_unsigned=allow_unsigned)} (not gated here)")
