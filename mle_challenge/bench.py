"""Benchmarks that print figures (never timed assertions): ``python -m mle_challenge.bench``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click


@click.group()
def bench() -> None:
    """Benchmarks."""


@bench.command("pipeline")
@click.option("--listings", required=True)
@click.option("--params", default="params.yaml", show_default=True)
@click.option("--workers", default=2, show_default=True)
def pipeline(listings: str, params: str, workers: int) -> None:
    """Cold-run and no-change re-run wall times, in a fresh outputs folder and model store."""
    if not listings.startswith(("http://", "https://", "s3://")) and not Path(listings).exists():
        raise click.UsageError(f"{listings} not found: set MLE_DATA_DIR to the real data folder")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BENTOML_HOME": f"{tmp}/bentoml", "BENTOML_DO_NOT_TRACK": "True"}
        command = [
            sys.executable,
            "-m",
            "mle_challenge.cli",
            "train",
            "--listings",
            listings,
            "--params",
            params,
            "--outputs",
            f"{tmp}/out",
            "--workers",
            str(workers),
        ]
        figures = []
        for label in ("cold run", "no-change re-run"):
            start = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            elapsed = time.perf_counter() - start
            if result.returncode != 0:
                raise click.ClickException(f"{label} failed:\n{result.stdout}\n{result.stderr}")
            figures.append((label, elapsed))
        click.echo(result.stdout.split("===== Luigi Execution Summary =====")[-1].strip())
        click.echo(f"\n{'run':<18} {'seconds':>8}   (workers={workers}, {os.cpu_count()} cores)")
        for label, seconds in figures:
            click.echo(f"{label:<18} {seconds:>8.1f}")


if __name__ == "__main__":
    bench()
