"""``bento``: the service built around one model into a bento, a bento into an image, and
bentos pushed to and pulled from S3."""

from __future__ import annotations

from pathlib import Path

import click

from mle_challenge.cli.options import (
    ALLOW_UNSIGNED,
    DEFAULT_NAME,
    PROJECT,
    model_choice,
    model_name_option,
    name_of,
    project_model_name,
)
from mle_challenge.cli.output import WholeHelpGroup


@click.group(cls=WholeHelpGroup)
def bento() -> None:
    """Build the service into a bento, and a bento into a container image."""


@bento.command("build")
@model_choice
@PROJECT
@click.option(
    "--follow",
    is_flag=True,
    help="The bento follows production when it runs, starting from this model "
    "(MLE_FOLLOW_PRODUCTION=0 at run time turns it off).",
)
def bento_build(
    model_tag: str | None, model_name: str | None, project_path: str | None, follow: bool
) -> None:
    """Build a bento that serves exactly one model, of one city or project (or follows that
    name's production from it, with --follow), named <model name>_service; prints the bento
    tag last."""
    from mle_challenge.serving.bento import build_bento

    name = name_of(model_tag, project_model_name(project_path, model_name))
    click.echo(build_bento(model_tag or None, model_name=name, follow=follow))


@bento.command("containerize")
@click.argument("bento_tag", required=False)
@click.option(
    "--base-image",
    default=None,
    help="Base image [default: python:3.11-slim; where it cannot be pulled, the local "
    "mle-challenge-base:bookworm-py3.11 that `make base-image` builds].",
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Extra CA certificates (PEM) that pip, uv and apt in the build must trust.",
)
@model_name_option(
    "Whose newest bento, when no BENTO_TAG is given [default: the project's model name, else "
    "price_classifier].",
    default=None,
)
@PROJECT
def bento_containerize(
    bento_tag: str | None,
    base_image: str | None,
    ca_bundle: Path | None,
    model_name: str | None,
    project_path: str | None,
) -> None:
    """Build a Docker image of BENTO_TAG (default: the newest bento of --model-name); prints
    the image tag last, which is the bento's tag."""
    from mle_challenge.serving.container import containerize, image_size_bytes

    image = containerize(
        bento_tag or None,
        base_image=base_image or None,
        ca_bundle=ca_bundle,
        model_name=project_model_name(project_path, model_name) or DEFAULT_NAME,
        say=click.echo,
    )
    click.echo(f"image size: {image_size_bytes(image) / 1e6:.0f} MB")
    click.echo(image)


@bento.command("push")
@click.argument("tag")
@click.argument("prefix")
@ALLOW_UNSIGNED
def bento_push(tag: str, prefix: str, allow_unsigned: bool) -> None:
    """Export bento TAG to PREFIX with a signed manifest; prints the archive URL last."""
    from mle_challenge.lifecycle.remote import push_bento

    click.echo(push_bento(tag, prefix, allow_unsigned=allow_unsigned))


@bento.command("pull")
@click.argument("url")
@ALLOW_UNSIGNED
def bento_pull(url: str, allow_unsigned: bool) -> None:
    """Import the bento pushed at URL, after checking its signature and archive."""
    from mle_challenge.lifecycle.remote import pull_bento

    click.echo(f"pulled {pull_bento(url, allow_unsigned=allow_unsigned)}")
