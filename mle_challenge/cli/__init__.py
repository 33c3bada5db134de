"""``mle-challenge``: the command line. Our errors become one clear line and a non-zero exit.

The group and its entry point live here; each module holds the commands of one idea:
``projects`` (``init``), ``listings`` (``data``), ``training`` (``train``, ``luigid``),
``release`` (``gate``, ``promote``, ``rollback``), ``registry`` (``models``), ``bentos``
(``bento``), ``api`` (``openapi``, ``classify``), ``predictions`` (``predict``, ``monitor``),
``scheduling`` (``schedule``); ``options`` and ``output`` are what they share.

May import: every part and every front below it (pipeline, service, schedule); nothing imports it.
"""

from __future__ import annotations

import click

from mle_challenge.cli.api import classify_command, openapi_command
from mle_challenge.cli.bentos import bento, bento_build, bento_containerize, bento_pull, bento_push
from mle_challenge.cli.listings import data, data_clean, data_synth
from mle_challenge.cli.output import WholeHelpGroup, table_lines
from mle_challenge.cli.predictions import monitor_command, predict_command
from mle_challenge.cli.projects import init_command
from mle_challenge.cli.registry import (
    models,
    models_accept,
    models_history,
    models_list,
    models_pull,
    models_push,
)
from mle_challenge.cli.release import gate_command, promote_command, rollback_command
from mle_challenge.cli.scheduling import schedule_command
from mle_challenge.cli.training import luigid_command, train_command
from mle_challenge.errors import MleError

EXIT_USER_ERROR = 2


@click.group(cls=WholeHelpGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """From raw Inside Airbnb listings to a versioned price-category service."""


# Each command imports its part inside its body, so registering them all is cheap: `--help`
# loads none of pandas, pydantic or BentoML.
for _command in (
    *(init_command, data, train_command, bento, openapi_command, predict_command, monitor_command),
    *(schedule_command, luigid_command, classify_command, gate_command, models),
    *(promote_command, rollback_command),
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        # Outside standalone mode click returns, rather than raises, a command's Exit code.
        code = cli.main(args=argv, prog_name="mle-challenge", standalone_mode=False)
    except MleError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, EOFError):  # click turns an EOFError into Abort
            click.echo(f"error: the input ended early: {exc.__context__}", err=True)
            return EXIT_USER_ERROR
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    return code if isinstance(code, int) else 0


__all__ = [
    "EXIT_USER_ERROR",
    "bento",
    "bento_build",
    "bento_containerize",
    "bento_pull",
    "bento_push",
    "classify_command",
    "cli",
    "data",
    "data_clean",
    "data_synth",
    "gate_command",
    "init_command",
    "luigid_command",
    "main",
    "models",
    "models_accept",
    "models_history",
    "models_list",
    "models_pull",
    "models_push",
    "monitor_command",
    "openapi_command",
    "predict_command",
    "promote_command",
    "rollback_command",
    "schedule_command",
    "table_lines",
    "train_command",
]
