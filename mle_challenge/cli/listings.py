"""``data``: raw listings cleaned into the training table, and synthetic listings to test with."""

from __future__ import annotations

from pathlib import Path

import click

from mle_challenge.cli.output import WholeHelpGroup


@click.group(cls=WholeHelpGroup)
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
    help="Whose geography and prices: boston has no borough-like groups, zurich prices in CHF.",
)
@click.option(
    "--layout",
    type=click.Choice(["minimal", "74", "75", "79", "90"]),
    default="minimal",
    show_default=True,
    help="The file's columns: only those cleaning reads, or a full file of that many columns "
    "(74: 2021, 75: with `source`, 79: 2025, bath counts filled, 90: older).",
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
