"""``mle-challenge``: the command line. Our errors become one clear line and a non-zero exit.

May import: every part and every front below it (pipeline, service, schedule); nothing imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mle_challenge.errors import MleError

EXIT_USER_ERROR = 2

_PARAMS = click.option(
    "--params",
    "params_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="The parameter file [default: ./params.yaml if there is one, else the packaged defaults].",
)


_DEFAULT_NAME = "price_classifier"  # config.MODEL_NAME, without importing pydantic for --help


def _valid_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --model-name as BentoML will take it: the rule in the error, before any work."""
    from mle_challenge.config import model_name_problem

    problem = None if value is None else model_name_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def _model_name_option(help_text: str, *, default: str | None = _DEFAULT_NAME) -> Any:
    """``--model-name``: which city's model, one registered name each."""
    return click.option(
        "--model-name",
        default=default,
        show_default=default is not None,
        callback=_valid_name,
        help=help_text,
    )


def _model_choice(command: Any) -> Any:
    """``--model name:version``, or ``--model-name``'s production model (see :func:`_name_of`)."""
    command = _model_name_option(
        "Whose production model, one name per city [default: price_classifier].", default=None
    )(command)
    return click.option(
        "--model",
        "model_tag",
        default=None,
        help="name:version (default: the production model of --model-name).",
    )(command)


def _name_of(model_tag: str | None, model_name: str | None) -> str:
    """The name a command acts on: --model-name, else the name in --model's tag, else the
    default; a tag of another name than --model-name is refused rather than guessed."""
    tagged = model_tag.split(":")[0] if model_tag else None
    if tagged and model_name and tagged != model_name:
        raise click.UsageError(
            f"--model {model_tag} is a model of {tagged}, not of --model-name {model_name}: "
            "give one of them, or a tag of that name."
        )
    return model_name or tagged or _DEFAULT_NAME


class _WholeHelpGroup(click.Group):
    """A group that lists each command with its whole first sentence, wrapped to the terminal.

    click cuts a command's description to what fits on one line and ends it with "...": at 80
    columns half the commands' descriptions stopped mid-sentence."""

    group_class = type  # its subgroups (data, bento, models) list their commands alike

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=_WHOLE_SENTENCE)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


_WHOLE_SENTENCE = 10_000  # characters: more than any first sentence, so none is cut


def table_lines(header: list[str], rows: list[list[str]], right: frozenset[int]) -> list[str]:
    """``header`` and ``rows`` as lines of columns as wide as their widest cell, two spaces
    apart (a fixed width put every cell after a long model name out of line); the columns
    numbered in ``right`` are right-aligned. A row shorter than the header ends in a note that
    runs on past the columns and does not widen them (a damaged model's problem)."""

    def sized(row: list[str]) -> list[str]:
        return row if len(row) == len(header) else row[:-1]

    widths = [
        max(len(row[i]) for row in [header, *map(sized, rows)] if i < len(row))
        for i in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(sized(cells))
        ]
        note = [] if len(cells) == len(header) else [cells[-1]]
        return "  ".join(padded + note).rstrip()

    return [line(header), *(line(row) for row in rows)]


@click.group(cls=_WholeHelpGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """From raw Inside Airbnb listings to a versioned price-category service."""


@cli.group()
def data() -> None:
    """Read, validate, clean and synthesise listings."""


@data.command("clean")
@click.option("--listings", "source", required=True, help="Path, http(s):// or s3:// URL.")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the clean table (.parquet or .csv, by extension).",
)
def data_clean(source: str, output: Path) -> None:
    """Clean raw detailed listings into the training table and print a summary."""
    from mle_challenge.data.clean import load_clean
    from mle_challenge.data.sources import write_table

    result = load_clean(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_table(result.table, output)
    click.echo(f"source: {source}")
    click.echo(result.report.format())
    click.echo(f"wrote {output}")


@data.command("synth")
@click.option("--rows", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--month",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="A later scrape of the same listings (same ids, new prices, some churn): 1, 2, ...",
)
@click.option(
    "--shift",
    type=click.FloatRange(0.0, 0.9),
    default=0.0,
    show_default=True,
    help="With --month: how far that month's prices and mix move (0.3 is a clear drift).",
)
@click.option(
    "--city",
    type=click.Choice(["nyc", "boston", "zurich"]),
    default="nyc",
    show_default=True,
    help="Whose geography and prices: boston has no neighbourhood groups, zurich prices in CHF.",
)
@click.option(
    "--layout",
    type=click.Choice(["minimal", "74", "75", "79", "90"]),
    default="minimal",
    show_default=True,
    help="The file's columns: only those cleaning reads, or a full file of that many columns "
    "(74: 2021, 75: with `source`, 79: 2025, bathrooms filled, 90: older).",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the raw-format listings (.csv or .csv.gz).",
)
def data_synth(
    rows: int, seed: int, month: int, shift: float, city: str, layout: str, output: Path
) -> None:
    """Write deterministic synthetic listings in Inside Airbnb's raw detailed format."""
    from mle_challenge.data.synthetic import generate_listings

    if not str(output).endswith((".csv", ".csv.gz")):
        raise click.BadParameter(
            "use a .csv or .csv.gz path: the raw format is CSV", param_hint="--output"
        )
    if shift and not month:
        raise click.BadParameter(
            "a shift moves a later month away from the first: add --month 1", param_hint="--shift"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_listings(rows, seed, month=month, shift=shift, city=city, layout=layout)
    frame.to_csv(output, index=False)
    later = f", month {month}, shift {shift:g}" if month else ""
    where = "" if city == "nyc" else f", {city}"
    columns = "" if layout == "minimal" else f", {frame.shape[1]} columns"
    click.echo(
        f"wrote {rows:,} synthetic listings (seed {seed}{later}{where}{columns}) to {output}"
    )


@cli.command("train")
@click.option("--listings", "source", required=True, help="Path, http(s):// or s3:// URL.")
@_PARAMS
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
@_model_name_option(
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


@cli.group()
def bento() -> None:
    """Build the service into a bento, and a bento into a container image."""


@bento.command("build")
@_model_choice
@click.option(
    "--follow",
    is_flag=True,
    help="The bento follows production when it runs, starting from this model "
    "(MLE_FOLLOW_PRODUCTION=0 at run time turns it off).",
)
def bento_build(model_tag: str | None, model_name: str | None, follow: bool) -> None:
    """Build a bento that serves exactly one model, of one city (or follows that name's
    production from it, with --follow); prints the bento tag last."""
    from mle_challenge.serving.bento import build_bento

    name = _name_of(model_tag, model_name)
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
@_model_name_option("Whose newest bento, when no BENTO_TAG is given.")
def bento_containerize(
    bento_tag: str | None, base_image: str | None, ca_bundle: Path | None, model_name: str
) -> None:
    """Build a Docker image of BENTO_TAG (default: the newest bento of --model-name); prints
    the image tag last, which is the bento's tag."""
    from mle_challenge.serving.container import containerize, image_size_bytes

    image = containerize(
        bento_tag or None,
        base_image=base_image or None,
        ca_bundle=ca_bundle,
        model_name=model_name,
        say=click.echo,
    )
    click.echo(f"image size: {image_size_bytes(image) / 1e6:.0f} MB")
    click.echo(image)


_ALLOW_UNSIGNED = click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept (pull) or write (push) a manifest without an MLE_SIGNING_KEY signature.",
)


@bento.command("push")
@click.argument("tag")
@click.argument("prefix")
@_ALLOW_UNSIGNED
def bento_push(tag: str, prefix: str, allow_unsigned: bool) -> None:
    """Export bento TAG to PREFIX with a signed manifest; prints the archive URL last."""
    from mle_challenge.lifecycle.remote import push_bento

    click.echo(push_bento(tag, prefix, allow_unsigned=allow_unsigned))


@bento.command("pull")
@click.argument("url")
@_ALLOW_UNSIGNED
def bento_pull(url: str, allow_unsigned: bool) -> None:
    """Import the bento pushed at URL, after checking its signature and archive."""
    from mle_challenge.lifecycle.remote import pull_bento

    click.echo(f"pulled {pull_bento(url, allow_unsigned=allow_unsigned)}")


@cli.command("openapi")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/openapi.yaml"),
    show_default=True,
)
def openapi_command(output: Path) -> None:
    """Write the service's OpenAPI document (as served at /docs.json) as YAML."""
    import json

    import yaml

    from mle_challenge.service import published_document

    # Through JSON, as the server sends it: the same key order, types and escapes.
    document = json.loads(json.dumps(published_document()))
    header = (
        "# Generated by `make docs` from mle_challenge/service.py; do not edit by hand.\n"
        "# tests/e2e/test_serve.py fails when this differs from the live /docs.json.\n"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    click.echo(f"wrote {output}")


@cli.command("predict")
@click.option("--input", "source", required=True, help="Listings: raw or API-shaped; CSV/Parquet.")
@click.option(
    "--output", required=True, help="Where to write predictions (.csv, .csv.gz, .parquet)."
)
@_model_choice
@click.option("--chunk-rows", type=click.IntRange(min=1000), default=100_000, show_default=True)
def predict_command(
    source: str, output: str, model_tag: str | None, model_name: str | None, chunk_rows: int
) -> None:
    """Predict every listing of a file, in chunks; refused rows go to <output>.rejects.csv."""
    from mle_challenge.batch.predict import predict_file

    name = _name_of(model_tag, model_name)
    report = predict_file(source, output, model_tag, chunk_rows, model_name=name)
    click.echo(report.format())


@cli.command("monitor")
@click.option("--report", required=True, help="Folder for report.html, summary.json, metrics.prom.")
@click.option(
    "--since", default="7d", show_default=True, help="Window: the last 30m, 1h, 7d, 2w..."
)
@click.option(
    "--from", "start", default=None, help="Window start (ISO 8601, UTC); instead of --since."
)
@click.option("--to", "end", default=None, help="Window end (ISO 8601, UTC; default: now).")
@click.option(
    "--model", "model_tag", default=None, help="Only this model's answers (name:version)."
)
@click.option(
    "--log", "log_url", default=None, help="Prediction log URL (default: MLE_PREDICTION_LOG)."
)
@click.option(
    "--batch", "batch_output", default=None, help="Monitor this `predict` output instead."
)
@click.option("--batch-input", default=None, help="Its input (default: as the log recorded it).")
@click.option("--actuals", default=None, help="A later listings file (path, HTTP or S3 URL).")
@click.option(
    "--scraped-at",
    default=None,
    help="When --actuals was scraped (default: its last_scraped dates, else its file time).",
)
@_PARAMS
def monitor_command(
    report: str,
    since: str,
    start: str | None,
    end: str | None,
    model_tag: str | None,
    log_url: str | None,
    batch_output: str | None,
    batch_input: str | None,
    actuals: str | None,
    scraped_at: str | None,
    params_path: str | None,
) -> None:
    """Input drift and realized performance of what was served; exits 1 when a threshold of
    params.yaml's `monitor` section is passed, so cron or a scheduler can act on it."""
    from mle_challenge.config import params_source
    from mle_challenge.monitoring.monitor import format_summary
    from mle_challenge.pipeline import run_monitor

    if batch_input and not batch_output:
        raise click.UsageError("--batch-input goes with --batch OUTPUT")
    params = params_source(params_path)
    summary = run_monitor(
        report,
        params_path=str(params.path),
        log_url=log_url,
        since=since,
        start=start,
        end=end,
        model=model_tag,
        batch_output=batch_output,
        batch_input=batch_input,
        actuals=actuals,
        scraped_at=scraped_at,
    )
    click.echo(format_summary(summary))
    click.echo(params.describe())
    click.echo(f"report: {Path(report) / 'report.html'}")
    if summary["alarm"]:
        raise click.exceptions.Exit(1)


@cli.command("schedule")
@click.option("--listings", "source", required=True, help="Path, http(s):// or s3:// URL.")
@click.option(
    "--cron",
    default=None,
    help="When to run, a crontab line in UTC (minute hour day-of-month month day-of-week), "
    'e.g. "0 3 * * 1": 03:00 every Monday. Not needed with --once.',
)
@click.option("--every", type=click.FloatRange(min=0.1), default=None, hidden=True)  # tests
@_PARAMS
@click.option("--outputs", default="outputs", show_default=True, help="Folder for outputs.")
@_model_name_option(
    "The name each run registers and promotes, one per city [default: the params' "
    "register.model_name].",
    default=None,
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Luigi workers."
)
@click.option("--scheduler-url", default=None, help="Luigi central scheduler (default: local).")
@click.option(
    "--monitor",
    is_flag=True,
    help="Monitor the prediction log before each run, and between runs (--monitor-every): "
    "input drift found between runs starts a run at once.",
)
@click.option("--monitor-since", default=None, help="The window monitored: 1h, 7d... [7d]")
@click.option(
    "--monitor-every", default=None, help="Monitoring between runs: 30m, 1h... or off. [1h]"
)
@click.option(
    "--actuals",
    default=None,
    help="With --monitor: the listings file whose prices are the realized outcomes of the "
    "logged predictions, e.g. the same URL as --listings (each new scrape prices what was "
    "predicted before it). Monitoring measures drift alone while it is absent.",
)
@click.option(
    "--timeout",
    "run_timeout",
    default="6h",
    show_default=True,
    help="Stop a training that runs longer (the run is an error): 90m, 6h... or off.",
)
@click.option(
    "--once",
    is_flag=True,
    help="One run now, then exit: 0 promoted, unchanged or skipped; 1 otherwise.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="/metrics, /healthz host.")
@click.option("--port", type=click.IntRange(0, 65535), default=9108, show_default=True)
def schedule_command(
    source: str,
    cron: str | None,
    every: float | None,
    params_path: str | None,
    outputs: str,
    model_name: str | None,
    workers: int,
    scheduler_url: str | None,
    monitor: bool,
    monitor_since: str | None,
    monitor_every: str | None,
    actuals: str | None,
    run_timeout: str,
    once: bool,
    host: str,
    port: int,
) -> None:
    """Retrain on a schedule: at each tick, train on --listings and promote a new model that
    passes its gate. Every run joins `models history`; one runs at a time; SIGTERM stops it
    cleanly. Serves /metrics and /healthz on --host:--port (docs/operations.md)."""
    import logging

    from mle_challenge import schedule
    from mle_challenge.config import load_params, params_source

    for name, value in (("--monitor-since", monitor_since), ("--monitor-every", monitor_every)):
        if value is not None and not monitor:
            raise click.UsageError(f"{name} goes with --monitor")
    if actuals and not monitor:
        raise click.UsageError("--actuals goes with --monitor")
    if not once and (cron is None) == (every is None):
        raise click.UsageError(f"give when to run: {schedule.CRON_EXAMPLE}, or --once")
    trigger = schedule.parse_cron(cron) if cron else None
    since = monitor_since or "7d"
    schedule.duration(since, "--monitor-since", off=False)
    timeout = schedule.duration(run_timeout, "--timeout")
    params = params_source(params_path)
    options = schedule.Options(
        listings=source,
        params=str(params.path),  # every run's `train` reads this very file, wherever it runs
        outputs=outputs,
        model_name=model_name or load_params(params.path).registry.model_name,
        trigger="run now (--once)" if once else (f"cron {cron}" if cron else f"every {every:g} s"),
        workers=workers,
        scheduler_url=scheduler_url,
        monitor=monitor,
        monitor_since=since,
        actuals=actuals,
        timeout=timeout.total_seconds() if timeout else None,
    )
    checks = schedule.duration(monitor_every or "1h", "--monitor-every") if monitor else None
    # Our runs at INFO; APScheduler's and the libraries' chatter only when it matters.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger(schedule.__name__).setLevel(logging.INFO)
    # On stderr, with the log: --once's stdout is its run's one line.
    logging.getLogger(schedule.__name__).info(params.describe())
    if once:
        record = schedule.run_once(options)
        click.echo(record.line())
        raise click.exceptions.Exit(schedule.EXIT_STATUS[record.outcome])
    when = trigger or schedule.every_seconds(every or 0)
    raise click.exceptions.Exit(schedule.serve(options, when, checks, host, port))


@cli.command("luigid")
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


@cli.command("classify")
@click.option("--url", required=True, help="The service, e.g. http://127.0.0.1:3000")
@click.option("--listings", default=None, help="Raw or API-shaped listings to sample from.")
@click.option("--sample", type=click.IntRange(min=1), default=None, help="How many to send.")
@click.option("--input", "input_file", default=None, help="A JSON, CSV or Parquet of listings.")
@click.option(
    "--batch",
    "batch_size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Listings per request: 1 sends each to /classify, more sends /classify_batch requests.",
)
@click.option("--rows", "show_rows", is_flag=True, help="Also print each listing's answer.")
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True)
def classify_command(
    url: str,
    listings: str | None,
    sample: int | None,
    input_file: str | None,
    batch_size: int,
    show_rows: bool,
    timeout: float,
    retries: int,
) -> None:
    """Send listings to a running service and sum up its answers: by status and category,
    errors, latency percentiles (a smoke test of a deployment; exits 1 when any failed)."""
    from mle_challenge.serving import smoke
    from mle_challenge.serving.client import PriceClient, listings_from_file

    if (listings is None) == (input_file is None):
        raise click.UsageError("give either --listings SOURCE (with --sample N) or --input FILE")
    source = listings or input_file
    assert source is not None
    rows = listings_from_file(source, sample=sample if listings else None)
    client = PriceClient(url, timeout=timeout, retries=retries, batch_size=batch_size)
    model = client.model()
    run = smoke.send(client, rows, batch_size)
    if show_rows:
        for line in smoke.row_lines(run.outcomes):
            click.echo(line)
    click.echo(f"{len(run.outcomes)} listings classified by {model['tag']} at {url}")
    for line in smoke.summary_lines(run):
        click.echo(line)
    if any(o.error is not None for o in run.outcomes):
        raise click.exceptions.Exit(1)


@cli.command("gate")
@click.argument("tag")
@_PARAMS
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


@cli.group()
def models() -> None:
    """Registered models: list, history of production, push to and pull from S3."""


_NAME_HELP = "Which city's models, one registered name each."


@models.command("list")
@_model_name_option(_NAME_HELP)
def models_list(model_name: str) -> None:
    """Tag, creation time, key metrics and gate result of MODEL_NAME's models; its production
    model is marked. The metrics are each registered model's own (a refit's, not its
    candidate's), on its held-out test rows."""
    from mle_challenge.lifecycle import production

    found = production.listing(model_name)
    rows = found.rows
    if not rows:
        click.echo(f"no registered models named {model_name}: train one with `make run`")
    else:
        header = ["tag", "created", "candidate", "test acc", "test F1", "test AUC", "gate"]
        cells = [_model_cells(r) for r in rows]
        for line in table_lines([*header, "stage"], cells, right=frozenset({3, 4, 5})):
            click.echo(line)
    if found.alias_problem is not None:  # the rows are listed; the alias is not trusted
        raise MleError(f"{found.alias_problem} No model is marked production.")


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
@_model_name_option(_NAME_HELP)
def models_history(model_name: str) -> None:
    """The append-only log of MODEL_NAME's promotions, rollbacks and scheduled runs (with
    their outcome)."""
    from mle_challenge.lifecycle import production

    events = production.history(model_name)
    if not events:
        click.echo(f"no promotions, rollbacks or scheduled runs of {model_name} yet")
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
@_ALLOW_UNSIGNED
def models_push(tag: str, prefix: str, allow_unsigned: bool) -> None:
    """Export TAG to PREFIX (s3://bucket/prefix) with a manifest signed with MLE_SIGNING_KEY;
    prints the archive URL as its last line."""
    from mle_challenge.lifecycle.remote import push_model

    click.echo(push_model(tag, prefix, allow_unsigned=allow_unsigned))


@models.command("pull")
@click.argument("url")
@_ALLOW_UNSIGNED
def models_pull(url: str, allow_unsigned: bool) -> None:
    """Import the model pushed at URL after checking its signature and hashes. It arrives
    "not gated here": run `mle-challenge gate` on it before promoting it."""
    from mle_challenge.lifecycle.remote import pull_model

    click.echo(f"pulled {pull_model(url, allow_unsigned=allow_unsigned)} (not gated here)")


@cli.command("promote")
@click.argument("tag")
@click.option("--reason", default="", help="Why; required with --force.")
@click.option("--force", is_flag=True, help="Promote even though the gate failed or never ran.")
def promote_command(tag: str, reason: str, force: bool) -> None:
    """Make TAG the production model of its name (refused when its gate failed, unless
    --force): promoting price_classifier_boston:<v> moves only that name's alias."""
    from mle_challenge.lifecycle import production

    alias = production.promote(tag, reason=reason, force=force)
    click.echo(f"production: {alias.tag}")


@cli.command("rollback")
@click.option("--reason", default="", help="Why, for the history.")
@_model_name_option("Whose production to roll back, one registered name per city.")
def rollback_command(reason: str, model_name: str) -> None:
    """Return MODEL_NAME's production to the model it replaced."""
    from mle_challenge.lifecycle import production

    alias = production.rollback(model_name, reason=reason)
    click.echo(f"production: {alias.tag}")


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
