"""``schedule``: retraining at each tick of a cron line, or once (the process lives in
:mod:`mle_challenge.schedule`)."""

from __future__ import annotations

import click

from mle_challenge.cli.options import PARAMS, PROJECT, model_name_option


@click.command("schedule")
@click.option("--listings", "source", required=True, help="Path, http(s):// or s3:// URL.")
@click.option(
    "--cron",
    default=None,
    help="When to run, a crontab line in UTC (minute hour day-of-month month day-of-week), "
    'e.g. "0 3 * * 1": 03:00 every Monday. Not needed with --once.',
)
@click.option("--every", type=click.FloatRange(min=0.1), default=None, hidden=True)  # tests
@PROJECT
@PARAMS
@click.option("--outputs", default="outputs", show_default=True, help="Folder for outputs.")
@model_name_option(
    "The name each run registers and promotes, one per city [default: the project's model "
    "name, else the params' register.model_name].",
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
    project_path: str | None,
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
    from mle_challenge.config import params_source
    from mle_challenge.project import project_source, stage_params

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
    project = project_source(project_path)
    stages, origin = stage_params(project_path, params_path)  # a bad file fails before any run
    # Every run's `train` reads these very files, wherever it runs: absolute paths. A project
    # takes --params only when given (its own sections are its parameters).
    params = params_source(params_path) if params_path or project.packaged else None
    options = schedule.Options(
        listings=source,
        params=str(params.path) if params else None,
        outputs=outputs,
        model_name=model_name or stages.registry.model_name,
        trigger="run now (--once)" if once else (f"cron {cron}" if cron else f"every {every:g} s"),
        workers=workers,
        scheduler_url=scheduler_url,
        monitor=monitor,
        monitor_since=since,
        actuals=actuals,
        timeout=timeout.total_seconds() if timeout else None,
        project=None if project.packaged else str(project.path),
    )
    checks = schedule.duration(monitor_every or "1h", "--monitor-every") if monitor else None
    # Our runs at INFO; APScheduler's and the libraries' chatter only when it matters.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger(schedule.__name__).setLevel(logging.INFO)
    # On stderr, with the log: --once's stdout is its run's one line.
    logging.getLogger(schedule.__name__).info(origin)
    if once:
        record = schedule.run_once(options)
        click.echo(record.line())
        raise click.exceptions.Exit(schedule.EXIT_STATUS[record.outcome])
    when = trigger or schedule.every_seconds(every or 0)
    raise click.exceptions.Exit(schedule.serve(options, when, checks, host, port))
