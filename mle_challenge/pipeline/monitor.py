"""Monitoring a window of the prediction log (or a batch run), as a function and a task."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import luigi

from mle_challenge.lifecycle.outputs import Outputs
from mle_challenge.pipeline.entry import _PARAMS_HELP


class MonitorAlarm(Exception):
    """A monitoring run passed a threshold of params.yaml's ``monitor`` section."""


def run_monitor(
    report: str | Path,
    *,
    project_path: str | None = None,
    params_path: str | None = None,
    log_url: str | None = None,
    since: str | None = "7d",
    start: str | None = None,
    end: str | None = None,
    model: str | None = None,
    batch_output: str | None = None,
    batch_input: str | None = None,
    actuals: str | None = None,
    scraped_at: str | None = None,
) -> dict[str, Any]:
    """Monitor a window (of the prediction log, or a batch run) and write its report into
    ``report``; the summary's ``alarm`` says whether a threshold was passed. The thresholds:
    the `monitor` section of the project (``project_path``, or ``MLE_PROJECT``) with
    ``params_path`` overriding it; with neither, ``params_path``, else ``./params.yaml``, else
    the packaged defaults (:func:`mle_challenge.project.stage_params`)."""
    from datetime import UTC

    from mle_challenge.config import get_settings
    from mle_challenge.data.actuals import read_actuals
    from mle_challenge.lifecycle.store import state_dir
    from mle_challenge.monitoring import monitor
    from mle_challenge.monitoring.log import resolve_url
    from mle_challenge.project import stage_params

    params = stage_params(project_path, params_path)[0].monitor
    url = log_url or resolve_url(get_settings().prediction_log, state_dir())
    if batch_output:
        from mle_challenge.batch.window import batch_window

        window = batch_window(batch_output, batch_input, url)
    else:
        if url is None:
            raise monitor.MonitorError(
                "the prediction log is off (MLE_PREDICTION_LOG=off): pass --log URL, or "
                "monitor a batch run with --batch OUTPUT."
            )
        until = monitor.parse_time(end, "--to") if end else datetime.now(UTC)
        if start:
            begin = monitor.parse_time(start, "--from")
        elif since:
            begin = until - monitor.parse_since(since)
        else:
            begin = None
        window = monitor.window_from_log(url, begin, until, model)
    later = None
    if actuals:
        given = monitor.parse_time(scraped_at, "--scraped-at") if scraped_at else None
        later = read_actuals(actuals, given)
    summary = monitor.summarize(window, params, later, actuals or "")
    monitor.write_report(summary, Path(report))
    return summary


class MonitorModel(luigi.Task):
    """The prediction log's last ``since`` (or a batch run) → drift and realized-performance
    report in ``root/monitor/<end>-<since>/``. Fails, after writing its report, when a
    threshold of params.yaml's ``monitor`` section is passed (``--no-fail-on-alarm`` to
    only report), so a scheduler sees the alarm in its exit status."""

    root = luigi.Parameter(default="outputs", description="Folder for all pipeline outputs.")
    params = luigi.Parameter(default="", description=_PARAMS_HELP)
    since = luigi.Parameter(default="7d", description="Window length before `until`: 1h, 7d...")
    until = luigi.Parameter(default="now", description="Window end (ISO 8601, UTC) or now.")
    start = luigi.Parameter(default="", description="Window start (ISO 8601), instead of since.")
    log = luigi.Parameter(default="", description="Prediction log URL (default: the setting).")
    actuals = luigi.Parameter(default="", description="A later listings file: path or URL.")
    scraped_at = luigi.Parameter(default="", description="When `actuals` was scraped.")
    fail_on_alarm = luigi.BoolParameter(default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING)

    @cached_property
    def _end(self) -> datetime:
        from mle_challenge.monitoring.monitor import parse_time

        return parse_time(str(self.until), "--until")  # "now" is read once per task

    def output(self) -> luigi.LocalTarget:
        length = f"from{self.start}" if self.start else str(self.since)
        folder = f"{self._end:%Y%m%dT%H%M%S}Z-{length}".replace(":", "")
        local = Outputs(str(self.root)).local  # reports stay on the machine that made them
        return luigi.LocalTarget(str(local / "monitor" / folder / "summary.json"))

    def run(self) -> None:
        summary = run_monitor(
            Path(self.output().path).parent,
            params_path=str(self.params) or None,
            log_url=str(self.log) or None,
            since=str(self.since),
            start=str(self.start) or None,
            end=self._end.isoformat(),
            actuals=str(self.actuals) or None,
            scraped_at=str(self.scraped_at) or None,
        )
        self.set_status_message("ALARM" if summary["alarm"] else "no alarm")  # type: ignore[misc]
        if summary["alarm"] and self.fail_on_alarm:
            raise MonitorAlarm("; ".join(summary["alarms"]))
