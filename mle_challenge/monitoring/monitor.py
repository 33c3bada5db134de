"""One monitoring run: a window of answers → drift per model, realized performance, a report.

The window is the prediction log between two times (:func:`window_from_log`), or a batch run's
input and output (built by ``mle_challenge.batch``). :func:`monitor` writes ``report.html``,
``summary.json`` and ``metrics.prom`` into a folder and returns the summary, whose ``alarm``
says whether a threshold of ``params.yaml``'s ``monitor`` section was passed.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from mle_challenge import CATEGORIES, PRICE_BINS
from mle_challenge.config import MonitorParams
from mle_challenge.data.actuals import Actuals
from mle_challenge.errors import MleError
from mle_challenge.model.city import edges_of
from mle_challenge.model.features import API_FEATURES
from mle_challenge.monitoring import drift as drift_
from mle_challenge.monitoring.log import hidden_url, read_predictions
from mle_challenge.monitoring.profile import ProfileMissing, read_profile
from mle_challenge.monitoring.realized import realized_performance
from mle_challenge.monitoring.report import render_html, write_gauges

WINDOW_COLUMNS = ("listing_id", "model", "logged_at", "price_category", *API_FEATURES)


class MonitorError(MleError):
    """A monitoring run cannot be done as asked."""


@dataclass(frozen=True)
class Window:
    """Answers to monitor: :data:`WINDOW_COLUMNS`, ``logged_at`` in UTC."""

    frame: pd.DataFrame
    source: str
    start: datetime | None
    end: datetime


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``30m``, ``1h``, ``7d``, ``2w`` → a duration."""
    found = _DURATION.match(text)
    if not found:
        raise MonitorError(
            f"--since {text!r} is not a duration: use a number and a unit, such as 30m, 1h, "
            "7d or 2w (s, m, h, d, w)."
        )
    return timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


def parse_time(text: str, option: str) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or ``now``."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise MonitorError(
            f"{option} {text!r} is not a date or time: use ISO 8601, such as 2026-11-01 or "
            "2026-11-01T12:00, or now."
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def window_from_log(
    url: str, start: datetime | None, end: datetime, model: str | None = None
) -> Window:
    """The logged answers from ``start`` (inclusive) to ``end`` (exclusive)."""
    frame = read_predictions(url, since=start, until=end)
    frame = frame.assign(logged_at=pd.to_datetime(frame["logged_at"], utc=True))
    if model is not None:
        frame = frame[frame["model"] == model]
    return Window(
        frame=frame.loc[:, list(WINDOW_COLUMNS)].reset_index(drop=True),
        source=f"prediction log at {hidden_url(url)}" + (f", model {model}" if model else ""),
        start=start,
        end=end,
    )


def latest_answers(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each listing's latest answer in ``frame`` (logged order kept), and how many earlier
    answers were set aside. A listing asked about twice (a client's retry without an
    Idempotency-Key, a batch sent again) would otherwise weigh twice in the drift and the
    realized figures: 1,101 rows for 801 answers in issue 26."""
    if frame.empty:
        return frame, 0
    order = pd.to_datetime(frame["logged_at"], utc=True).argsort(kind="stable")
    latest = ~frame.iloc[order]["listing_id"].duplicated(keep="last")
    kept = frame.iloc[order][latest.to_numpy()].sort_index()
    return kept.reset_index(drop=True), len(frame) - len(kept)


def _model_facts(tag: str) -> tuple[dict[str, Any] | None, dict[str, Any], str | None]:
    """A model's profile (or None), its test figures, and why the profile is missing."""
    import bentoml

    from mle_challenge.lifecycle import store

    try:
        store.verified(tag)
        folder = store.model_path(tag)
        metrics: Any = bentoml.models.get(tag).info.metadata.get("metrics")
        test = dict(metrics) if isinstance(metrics, dict) else {}
    except MleError as exc:
        return None, {}, f"{exc} Its drift cannot be measured here."
    try:
        return read_profile(folder, tag), test, None
    except ProfileMissing as exc:
        return None, test, str(exc)


def _price_edges(tag: str) -> tuple[float, ...]:
    """The price edges ``tag``'s categories were cut by (NYC's when it saved none or is gone)."""
    from bentoml.exceptions import BentoMLException

    from mle_challenge.lifecycle.registry import model_contract

    try:
        return edges_of(model_contract(tag).city)
    except (BentoMLException, ValueError):  # not in this store: judged by the default edges
        return PRICE_BINS


def _buckets(logged: pd.Series) -> pd.Series:
    """Time buckets for the class mix: hours over two days or less, days up to 60, weeks."""
    span = logged.max() - logged.min() if len(logged) else pd.Timedelta(0)
    naive = logged.dt.tz_localize(None)
    if span <= pd.Timedelta(days=2):
        return naive.dt.floor("h").dt.strftime("%Y-%m-%d %H:00")
    if span <= pd.Timedelta(days=60):
        return naive.dt.strftime("%Y-%m-%d")
    return naive.dt.to_period("W").dt.start_time.dt.strftime("week of %Y-%m-%d")


def _mix_over_time(rows: pd.DataFrame) -> list[dict[str, Any]]:
    if rows.empty:
        return []
    table = pd.crosstab(_buckets(rows["logged_at"]), rows["price_category"].astype(str))
    table = table.reindex(columns=list(CATEGORIES), fill_value=0)
    return [{"bucket": str(b), **{c: int(r[c]) for c in CATEGORIES}} for b, r in table.iterrows()]


def _missing(profile: Mapping[str, Any], rows: pd.DataFrame) -> dict[str, dict[str, float]]:
    shares = {}
    for name in API_FEATURES:
        entry = profile["fields"][name]
        shares[name] = {
            "reference": round(entry["missing"] / max(entry["rows"], 1), 6),
            "window": round(float(rows[name].isna().mean()) if len(rows) else 0.0, 6),
        }
    return shares


def summarize(
    window: Window,
    params: MonitorParams,
    actuals: Actuals | None = None,
    actuals_source: str = "",
) -> dict[str, Any]:
    """The whole run's figures as one JSON-able dict; ``alarm`` when a threshold was passed."""
    frame, repeated = latest_answers(window.frame)
    drift: dict[str, Any] = {}
    test_figures: dict[str, dict[str, Any]] = {}
    alarms: list[str] = []
    notes: list[str] = []
    if repeated:
        notes.append(
            f"{repeated:,} earlier answers to listings answered again in the window are not "
            "counted: each listing's latest answer counts once."
        )
    if frame.empty:
        notes.append(
            f"no answers in the window ({window.source}): nothing to measure. Widen --since, "
            "or check that the service logs (MLE_PREDICTION_LOG) where monitor reads."
        )
    for model, rows in frame.groupby("model", sort=True):
        tag = str(model)
        profile, test, problem = _model_facts(tag)
        test_figures[tag] = test
        if profile is None:
            drift[tag] = {"rows": len(rows), "problem": problem}
            notes.append(str(problem))
            continue
        result = drift_.input_drift(profile, rows, params).as_dict()
        result["missing"] = _missing(profile, rows)
        result["mix_over_time"] = _mix_over_time(rows)
        drift[tag] = result
        if not result["judged"]:
            notes.append(
                f"{tag}: {len(rows)} answers, fewer than monitor.min_rows ({params.min_rows}): "
                "drift is measured but not judged."
            )
        alarms += [f"{tag}: {reason}" for reason in result["reasons"]]
    summary: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "window": {
            "source": window.source,
            "from": window.start.isoformat(timespec="seconds") if window.start else "the start",
            "to": window.end.isoformat(timespec="seconds"),
            "rows": len(frame),
            "repeated": repeated,
            "models": {
                str(k): int(v) for k, v in frame["model"].value_counts().sort_index().items()
            },
        },
        "thresholds": params.model_dump(),
        "drift": drift,
    }
    if actuals is not None:
        edges = {tag: _price_edges(tag) for tag in test_figures}
        realized = realized_performance(
            frame, actuals, actuals_source, test_figures, params, price_edges=edges
        )
        summary["realized"] = realized.as_dict()
        alarms += realized.reasons
        for tag, figures in realized.by_model.items():
            if not figures["judged"]:
                notes.append(
                    f"{tag}: {figures['rows']} predictions joined, fewer than monitor.min_rows "
                    f"({params.min_rows}): realized figures are shown but not judged."
                )
    summary["alarms"] = alarms
    summary["alarm"] = bool(alarms)
    summary["notes"] = notes
    return summary


def write_report(summary: Mapping[str, Any], folder: Path) -> Path:
    """``report.html``, ``summary.json`` and ``metrics.prom`` into ``folder``, all at once:
    they are written beside it and moved in, so a reader never sees half a report."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (staging / "report.html").write_text(render_html(summary))
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        write_gauges(summary, staging / "metrics.prom")
        folder.mkdir(exist_ok=True)
        for name in ("report.html", "metrics.prom", "summary.json"):  # summary.json last
            (staging / name).replace(folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "summary.json"


def format_summary(summary: Mapping[str, Any]) -> str:
    """What ``mle-challenge monitor`` prints."""
    window = summary["window"]
    lines = [
        f"window: {window['source']}, {window['from']} → {window['to']}, {window['rows']:,} answers"
    ]
    for model, drift in summary["drift"].items():
        if "problem" in drift:
            lines.append(f"{model}: {drift['rows']:,} answers; drift not measured")
            continue
        if not drift["judged"]:  # a PSI over a handful of answers (8.293 for one) means nothing
            least = summary["thresholds"]["min_rows"]
            lines.append(
                f"{model}: {drift['rows']:,} answers, a window too small to judge drift "
                f"(monitor.min_rows is {least:,})"
            )
            continue
        drifted = [f for f, d in drift["fields"].items() if d["drifted"]]
        lines.append(
            f"{model}: {drift['rows']:,} answers; drifted fields {len(drifted)}/11"
            + (f" ({', '.join(drifted)})" if drifted else "")
            + f"; predicted-mix PSI {drift['prediction_mix']['psi']:.3f}"
        )
    realized = summary.get("realized")
    if realized:
        lines.append(
            f"realized: {realized['joined']:,} of {realized['predictions']:,} predictions joined "
            f"with prices scraped {realized['scraped_at']}"
        )
        for reason, count in realized["not_joined"].items():
            lines.append(f"  not joined: {count:,} {reason}")
        for model, m in realized["by_model"].items():
            test = m["test"] or {}
            lines.append(
                f"  {model}: {m['rows']:,} joined; accuracy {m['accuracy']:.3f} "
                f"(test {_figure(test.get('accuracy'))}), macro-F1 {m['macro_f1']:.3f} "
                f"(test {_figure(test.get('macro_f1'))})"
            )
    lines += [f"note: {n}" for n in summary["notes"]]
    lines += [f"ALARM: {a}" for a in summary["alarms"]]
    lines.append("alarm: yes" if summary["alarm"] else "alarm: no")
    return "\n".join(lines)


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"
