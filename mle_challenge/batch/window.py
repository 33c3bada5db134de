"""A batch run as a monitoring window: its input's listings with the predictions it wrote."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from mle_challenge.data.sources import is_remote, read_table
from mle_challenge.errors import DataValidationError
from mle_challenge.monitoring.log import last_batch_run
from mle_challenge.monitoring.monitor import WINDOW_COLUMNS, Window


def batch_window(output: str, input_source: str | None, log_url: str | None) -> Window:
    """The rows ``mle-challenge predict`` predicted into ``output``, with the fields it read
    from its input (``input_source``, or the input the prediction log recorded for the run)."""
    import bentoml

    from mle_challenge.batch.predict import api_chunks
    from mle_challenge.data.validate import check_rows
    from mle_challenge.lifecycle.registry import model_contract
    from mle_challenge.project import saved_project

    run = last_batch_run(log_url, output) if log_url else None
    source = input_source or (run or {}).get("input")
    if source is None:
        raise DataValidationError(
            f"no batch run that wrote {output} is in the prediction log, so its input is "
            "unknown: pass --batch-input with the listings it predicted."
        )
    predicted = read_table(output)
    needed = {"id", "price_category", "model"}
    if not needed <= set(predicted.columns):
        raise DataValidationError(
            f"{output} is not an output of `mle-challenge predict`: it needs the columns "
            f"{', '.join(sorted(needed))}."
        )
    models = predicted["model"].dropna().unique()
    if len(models) != 1:
        raise DataValidationError(f"{output} holds predictions of {len(models)} models; expected 1")
    contract = model_contract(str(models[0]))
    project = saved_project(Path(bentoml.models.get(str(models[0])).path))
    bounds = project.area_bounds(contract.area.latitude, contract.area.longitude)
    parts = []
    for chunk in api_chunks(source):
        checked = check_rows(project, chunk.rows, contract.categories, bounds)
        parts.append(checked.rows[checked.reasons.isna().to_numpy()])
    listings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = predicted[["id", "price_category", "model"]].merge(listings, on="id", how="inner")
    if len(frame) < len(predicted):
        raise DataValidationError(
            f"{len(predicted) - len(frame):,} predictions of {output} have no listing in "
            f"{source}: pass the input that run predicted (--batch-input)."
        )
    when = (run or {}).get("finished_at")
    if when is None:
        when = (
            datetime.fromtimestamp(Path(output).stat().st_mtime, UTC)
            if not is_remote(output)
            else datetime.now(UTC)
        )
    logged_at = pd.to_datetime(when, utc=True)  # naive times from SQLite are UTC
    frame = frame.rename(columns={"id": "listing_id"}).assign(logged_at=logged_at)
    return Window(
        frame=frame.loc[:, list(WINDOW_COLUMNS)],
        source=f"batch run {source} → {output}",
        start=None,
        end=logged_at.to_pydatetime(),
    )
