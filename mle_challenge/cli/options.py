"""The options several commands share: --project, --params, --model-name (checked as BentoML
will take it, before any work), --model with its name, --allow-unsigned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mle_challenge.project import Project

PROJECT = click.option(
    "--project",
    "project_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="The project file (`mle-challenge init` writes one): its model name, declaration and "
    "stage sections [default: MLE_PROJECT, else the packaged Airbnb project].",
)


def named_project(project_path: str | None) -> Project | None:
    """The project named by --project or MLE_PROJECT; None when neither names one, so that
    a command without them works exactly as before projects."""
    from mle_challenge.project import load_project, project_source

    source = project_source(project_path)
    return None if source.packaged else load_project(source.path)


def project_model_name(project_path: str | None, model_name: str | None) -> str | None:
    """--model-name (one project, several cities: price_classifier_boston), else the named
    project's ``serving.model_name``, else None (the command's own default)."""
    if model_name is not None:
        return model_name
    project = named_project(project_path)
    return None if project is None else project.serving.model_name


def check_tag_of(tag: str, project: Project | None, project_path: str | None) -> None:
    """Refuse a tag of another name than the named project's, rather than act on the wrong
    project's production."""
    if project is None:
        return
    name, expected = tag.split(":")[0], project.serving.model_name
    if name != expected:
        where = project_path or "MLE_PROJECT"
        raise click.UsageError(
            f"{tag} is a model of {name}, not of the project {where} (model name {expected}): "
            f"give a tag of {expected}, or the project of {name}."
        )


PARAMS = click.option(
    "--params",
    "params_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="The parameter file [default: ./params.yaml if there is one, else the packaged defaults].",
)


DEFAULT_NAME = "price_classifier"  # config.MODEL_NAME, without importing pydantic for --help


def _valid_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --model-name as BentoML will take it: the rule in the error, before any work."""
    from mle_challenge.config import model_name_problem

    problem = None if value is None else model_name_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def model_name_option(help_text: str, *, default: str | None = DEFAULT_NAME) -> Any:
    """``--model-name``: which city's model, one registered name each."""
    return click.option(
        "--model-name",
        default=default,
        show_default=default is not None,
        callback=_valid_name,
        help=help_text,
    )


def model_choice(command: Any) -> Any:
    """``--model name:version``, or ``--model-name``'s production model (see :func:`name_of`)."""
    command = model_name_option(
        "Whose production model, one name per city [default: the project's model name, else "
        "price_classifier].",
        default=None,
    )(command)
    return click.option(
        "--model",
        "model_tag",
        default=None,
        help="name:version (default: the production model of --model-name).",
    )(command)


def name_of(model_tag: str | None, model_name: str | None) -> str:
    """The name a command acts on: --model-name, else the name in --model's tag, else the
    default; a tag of another name than --model-name is refused rather than guessed."""
    tagged = model_tag.split(":")[0] if model_tag else None
    if tagged and model_name and tagged != model_name:
        raise click.UsageError(
            f"--model {model_tag} is a model of {tagged}, not of --model-name {model_name}: "
            "give one of them, or a tag of that name."
        )
    return model_name or tagged or DEFAULT_NAME


ALLOW_UNSIGNED = click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept (pull) or write (push) a manifest without an MLE_SIGNING_KEY signature.",
)
