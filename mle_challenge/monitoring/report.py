"""The monitoring report, built from the summary alone: an HTML page with plots, and the
figures as Prometheus gauges (a text file for node_exporter's textfile collector, and the
gauges that `mle-challenge schedule --monitor` serves on its /metrics)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.model.evaluate import figure_png, fmt, html_table, png_bytes

_COLOURS = {"Low": "#4c72b0", "Mid": "#55a868", "High": "#dd8452", "Lux": "#c44e52"}


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _grid_png(count: int, draw: Callable[[Any, int], None], columns: int = 4) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), dpi=90)
    try:
        flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
        for i, ax in enumerate(flat):
            if i < count:
                draw(ax, i)
            else:
                ax.axis("off")
        return png_bytes(fig)
    finally:
        plt.close(fig)


def distributions_png(drift: Mapping[str, Any]) -> bytes:
    """Each field's shares per bin, reference beside window."""
    fields = list(drift["fields"].values())

    def draw(ax: Any, i: int) -> None:
        f = fields[i]
        positions = range(len(f["labels"]))
        ax.bar([p - 0.2 for p in positions], f["reference"], width=0.4, label="reference")
        ax.bar([p + 0.2 for p in positions], f["window"], width=0.4, label="window")
        ax.set_xticks(list(positions), f["labels"], rotation=60, ha="right", fontsize=6)
        mark = "  DRIFTED" if f["drifted"] else ""
        ax.set_title(f"{f['field']}: PSI {f['psi']:.3f}{mark}", fontsize=9)
        if i == 0:
            ax.legend(fontsize=7)

    return _grid_png(len(fields), draw)


def psi_png(drift: Mapping[str, Any], threshold: float) -> bytes:
    items = sorted(drift["fields"].values(), key=lambda f: f["psi"])

    def draw(fig: Any, ax: Any) -> None:
        colours = ["#c44e52" if f["drifted"] else "#4c72b0" for f in items]
        ax.barh([f["field"] for f in items], [f["psi"] for f in items], color=colours)
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel(f"PSI (dashed: monitor.psi {threshold}; red: drifted)")

    return figure_png(draw)


def mix_png(mix: list[Mapping[str, Any]], reference: Mapping[str, float]) -> bytes:
    """The predicted class mix per time bucket, beside the model's mix on its test rows."""
    labels = ["test rows", *(str(m["bucket"]) for m in mix)]
    shares = [dict(reference)]
    for m in mix:
        total = sum(m[c] for c in CATEGORIES) or 1
        shares.append({c: m[c] / total for c in CATEGORIES})

    def draw(fig: Any, ax: Any) -> None:
        bottom = [0.0] * len(labels)
        for c in CATEGORIES:
            values = [s.get(c, 0.0) for s in shares]
            ax.bar(range(len(labels)), values, bottom=bottom, color=_COLOURS[c], label=c)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("share of answers")
        ax.legend(fontsize=7, loc="upper right")

    return figure_png(draw, size=(max(5.5, 0.35 * len(labels) + 2), 4.5))


def realized_png(realized: Mapping[str, Any]) -> bytes:
    def draw(fig: Any, ax: Any) -> None:
        for model, figures in realized["by_model"].items():
            weeks = [w for w in realized["by_week"] if w["model"] == model]
            line = ax.plot(
                [w["week"] for w in weeks], [w["accuracy"] for w in weeks], marker="o", label=model
            )
            if figures["test"]:
                ax.axhline(figures["test"]["accuracy"], color=line[0].get_color(), ls="--", lw=1)
        ax.set_ylabel("realized accuracy (dashed: on test rows)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)

    return figure_png(draw)


def render_html(summary: Mapping[str, Any]) -> str:
    window = summary["window"]
    params = summary["thresholds"]
    status = "ALARM" if summary["alarm"] else "no alarm"
    parts = [
        f"<h1>Monitoring: {html.escape(status)}</h1>",
        f"<p>Window: {html.escape(window['source'])}, {html.escape(str(window['from']))} → "
        f"{html.escape(str(window['to']))}, {window['rows']:,} answers.</p>",
    ]
    if summary["alarms"]:
        items = "".join(f"<li>{html.escape(a)}</li>" for a in summary["alarms"])
        parts.append(f"<ul class='alarm'>{items}</ul>")
    for note in summary["notes"]:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    for model, drift in summary["drift"].items():
        parts.append(f"<h2>Input drift of {html.escape(model)}</h2>")
        if "problem" in drift:
            parts.append(f"<p class='note'>{html.escape(drift['problem'])}</p>")
            continue
        judged = (
            ""
            if drift["judged"]
            else (
                f" Fewer than monitor.min_rows ({params['min_rows']}) answers: "
                "measured, not judged."
            )
        )
        parts.append(
            f"<p>{drift['rows']:,} answers; {drift['drift_share']:.0%} of the fields drifted "
            f"(alarm at {params['max_drift_share']:.0%}).{html.escape(judged)}</p>"
        )
        rows = [
            [
                f["field"],
                f["test"],
                f"{f['statistic']:.4g}",
                f"{f['p_value']:.3g}",
                f"{f['psi']:.4f}",
                f"{f['psi_noise']:.4f}",
                f"{drift['missing'][f['field']]['reference']:.1%}",
                f"{drift['missing'][f['field']]['window']:.1%}",
                "yes" if f["drifted"] else "",
            ]
            for f in drift["fields"].values()
        ]
        head = ["field", "test", "statistic", "p-value", "PSI", "PSI by chance", "missing (ref)"]
        parts.append(html_table([*head, "missing (window)", "drifted"], rows))
        parts.append(_img(psi_png(drift, params["psi"]), f"PSI per field of {model}"))
        parts.append(_img(distributions_png(drift), f"distributions of {model}"))
        mix = drift["prediction_mix"]
        parts.append(
            f"<h3>Predicted class mix</h3><p>PSI {mix['psi']:.4f} against the test rows' "
            f"(p = {mix['p_value']:.3g}; alarm at {params['max_prediction_psi']}).</p>"
        )
        parts.append(_img(mix_png(drift["mix_over_time"], mix["reference"]), "class mix"))
    realized = summary.get("realized")
    if realized:
        parts.append("<h2>Realized performance</h2>")
        parts.append(
            f"<p>Actuals: {html.escape(realized['source'])}, scraped "
            f"{html.escape(realized['scraped_at'])} ({html.escape(realized['scraped_from'])}). "
            f"Joined {realized['joined']:,} of {realized['predictions']:,} predictions "
            f"({realized['listings_joined']:,} listings).</p>"
        )
        if realized["not_joined"]:
            parts.append(
                html_table(
                    ["not joined because", "predictions"],
                    [[k, f"{v:,}"] for k, v in realized["not_joined"].items()],
                )
            )
        rows = []
        for model, m in realized["by_model"].items():
            test = m["test"] or {}
            recalls = [fmt(m["per_class"][c]["recall"]) for c in CATEGORIES]
            rows.append(
                [
                    model,
                    f"{m['rows']:,}",
                    fmt(m["accuracy"]),
                    fmt(test.get("accuracy")),
                    fmt(m["macro_f1"]),
                    fmt(test.get("macro_f1")),
                    *recalls,
                ]
            )
        head = ["model", "joined", "accuracy", "(test)", "macro-F1", "(test)"]
        parts.append(html_table([*head, *(f"recall {c}" for c in CATEGORIES)], rows))
        for model, m in realized["by_model"].items():
            confusion = [
                [c, *map(str, row)]
                for c, row in zip(CATEGORIES, m["confusion_matrix"], strict=True)
            ]
            parts.append(f"<h3>Confusion of {html.escape(model)} (rows: true)</h3>")
            parts.append(html_table(["true \\ predicted", *CATEGORIES], confusion))
        if realized["by_week"]:
            weeks = [
                [w["model"], w["week"], f"{w['rows']:,}", fmt(w["accuracy"]), fmt(w["macro_f1"])]
                for w in realized["by_week"]
            ]
            parts.append(html_table(["model", "week of", "joined", "accuracy", "macro-F1"], weeks))
            parts.append(_img(realized_png(realized), "realized accuracy per week"))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Monitoring report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:80em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.3em .7em;text-align:right}td:first-child,th:first-child{text-align:left}"
        ".alarm{color:#a00;font-weight:bold}.note{color:#555}img{max-width:100%;margin:.5em 0}"
        "</style></head><body>" + "".join(parts) + "</body></html>"
    )


def write_gauges(summary: Mapping[str, Any], path: Path) -> None:
    """The summary's figures as Prometheus gauges, in the text exposition format."""
    from prometheus_client import CollectorRegistry, write_to_textfile

    registry = CollectorRegistry()
    fill_gauges(summary, registry)
    write_to_textfile(str(path), registry)


def fill_gauges(summary: Mapping[str, Any], registry: Any) -> None:
    """Register the summary's figures as gauges in ``registry`` (a ``CollectorRegistry``
    holding no gauges of these names): the text file above, and the scheduler's /metrics."""
    from prometheus_client import Gauge

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    alarm = gauge("mle_monitor_alarm", "1 when the last monitoring run passed a threshold.")
    alarm.set(1 if summary["alarm"] else 0)
    if "created_at" in summary:
        made = gauge("mle_monitor_timestamp_seconds", "When the monitoring run ran (Unix time).")
        made.set(datetime.fromisoformat(str(summary["created_at"])).timestamp())
    _drift_gauges(summary, gauge)
    realized = summary.get("realized")
    if realized:
        accuracy = gauge("mle_realized_accuracy", "Accuracy against later prices.", ("model",))
        f1 = gauge("mle_realized_macro_f1", "Macro-F1 against later prices.", ("model",))
        joined = gauge("mle_realized_joined", "Predictions joined with a later price.", ("model",))
        for model, m in realized["by_model"].items():
            accuracy.labels(model).set(m["accuracy"])
            f1.labels(model).set(m["macro_f1"])
            joined.labels(model).set(m["rows"])


def _drift_gauges(summary: Mapping[str, Any], gauge: Callable[..., Any]) -> None:
    rows = gauge("mle_monitor_window_rows", "Answers in the monitored window.", ("model",))
    share = gauge("mle_drift_share", "Share of input fields that drifted.", ("model",))
    psi = gauge("mle_feature_psi", "Population stability index per field.", ("model", "feature"))
    drifted = gauge("mle_feature_drifted", "1 when the field drifted.", ("model", "feature"))
    mix = gauge("mle_prediction_mix_psi", "PSI of the predicted class mix.", ("model",))
    for model, drift in summary["drift"].items():
        if "problem" in drift:
            continue
        rows.labels(model).set(drift["rows"])
        share.labels(model).set(drift["drift_share"])
        mix.labels(model).set(drift["prediction_mix"]["psi"])
        for name, f in drift["fields"].items():
            psi.labels(model, name).set(f["psi"])
            drifted.labels(model, name).set(1 if f["drifted"] else 0)
