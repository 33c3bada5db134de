"""``predict``: a file of listings predicted in chunks; ``monitor``: what was predicted, served or
in a batch, against the model's profile and later prices."""

from __future__ import annotations

from pathlib import Path

import click

from mle_challenge.cli.options import PARAMS, PROJECT, model_choice, name_of, project_model_name


@click.command("predict")
@click.option("--input", "source", required=True, help="Listings: raw or API-shaped; CSV/Parquet.")
@click.option(
    "--output", required=True, help="Where to write predictions (.csv, .csv.gz, .parquet)."
)
@model_choice
@PROJECT
@click.option("--chunk-rows", type=click.IntRange(min=1000), default=100_000, show_default=True)
def predict_command(
    source: str,
    output: str,
    model_tag: str | None,
    model_name: str | None,
    project_path: str | None,
    chunk_rows: int,
) -> None:
    """Predict every row of a file, in chunks, with the production model of MODEL_NAME or the
    project (each row checked by that model's declaration); refused rows go to
    <output>.rejects.csv."""
    from mle_challenge.batch.predict import predict_file

    name = name_of(model_tag, project_model_name(project_path, model_name))
    report = predict_file(source, output, model_tag, chunk_rows, model_name=name)
    click.echo(report.format())


@click.command("monitor")
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
@PROJECT
@PARAMS
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
    project_path: str | None,
    params_path: str | None,
) -> None:
    """Input drift and realized performance of what was served; exits 1 when a threshold of
    the `monitor` section (the project's, or params.yaml's) is passed, so cron or a scheduler
    can act on it."""
    from mle_challenge.monitoring.monitor import format_summary
    from mle_challenge.pipeline import run_monitor
    from mle_challenge.project import stage_params

    if batch_input and not batch_output:
        raise click.UsageError("--batch-input goes with --batch OUTPUT")
    _, origin = stage_params(project_path, params_path)  # a bad file fails before any work
    summary = run_monitor(
        report,
        project_path=project_path,
        params_path=params_path,
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
    click.echo(origin)
    click.echo(f"report: {Path(report) / 'report.html'}")
    if summary["alarm"]:
        raise click.exceptions.Exit(1)
