"""Evaluate fitted candidates: metrics, plots and an HTML report comparing them all."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from mle_challenge import CATEGORIES

# The data scientists' reported holdout figures, shown beside ours in every report.
NOTEBOOK_BASELINE = {"accuracy": 0.605, "macro_f1": 0.536, "roc_auc_ovr": 0.818}


def classification_metrics(model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Accuracy, macro-F1, one-vs-rest ROC AUC, per-class scores and the confusion matrix.

    Classes are reported in price order (Low → Lux), whatever the model's ``classes_`` order.
    """
    proba = pd.DataFrame(model.predict_proba(X), columns=list(model.classes_))
    proba = proba.reindex(columns=list(CATEGORIES), fill_value=0.0)
    # The model's own decision rule (argmax, or a tuned one: mle_challenge.model.decision).
    labels = np.asarray(model.predict(X)).astype(str)
    truth = y.to_numpy()
    scores = label_metrics(truth, labels)
    return {
        "rows": scores["rows"],
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "roc_auc_ovr": _roc_auc(truth, proba.to_numpy()),
        "per_class": scores["per_class"],
        "confusion_matrix": scores["confusion_matrix"],
    }


def label_metrics(truth: Any, labels: Any) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores and confusion matrix of predicted ``labels``:
    offline evaluation and realized performance (monitoring) both count with this."""
    truth, labels = np.asarray(truth).astype(str), np.asarray(labels).astype(str)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, labels, labels=list(CATEGORIES), zero_division=0
    )
    return {
        "rows": len(truth),
        "accuracy": float(accuracy_score(truth, labels)),
        "macro_f1": float(
            f1_score(truth, labels, average="macro", labels=list(CATEGORIES), zero_division=0)
        ),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(CATEGORIES)
        },
        "confusion_matrix": confusion_matrix(truth, labels, labels=list(CATEGORIES)).tolist(),
    }


def _roc_auc(truth: np.ndarray, proba: np.ndarray) -> float | None:
    """Macro one-vs-rest ROC AUC (as sklearn's ``multi_class="ovr"``) over the classes present.

    None when fewer than two classes are present: AUC is undefined there, say so.
    """
    scores = [
        roc_auc_score(truth == c, proba[:, i])
        for i, c in enumerate(CATEGORIES)
        if 0 < (truth == c).sum() < len(truth)
    ]
    return float(np.mean(scores)) if len(scores) >= 2 else None


def feature_importance(
    model: Any, X: pd.DataFrame, y: pd.Series, seed: int = 0, max_rows: int = 2000
) -> dict[str, float]:
    """Permutation importance (drop in accuracy) of each API field, on at most ``max_rows``.

    Measured on the fields the API receives, so it is comparable across candidates whatever
    their internal encoding.
    """
    from mle_challenge.model.train import one_openmp_thread

    sample = X.sample(n=min(max_rows, len(X)), random_state=seed)
    with one_openmp_thread():  # 33 predictions: spinning threads cost most on a busy machine
        result = permutation_importance(
            model, sample, y.loc[sample.index], n_repeats=3, random_state=seed, n_jobs=1
        )
    return dict(zip(X.columns, map(float, result.importances_mean), strict=True))


def figure_png(draw: Any, size: tuple[float, float] = (5.5, 4.5)) -> bytes:
    """PNG bytes of a matplotlib figure that ``draw(fig, ax)`` fills."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=100)
    try:
        draw(fig, ax)
        return png_bytes(fig)
    finally:
        plt.close(fig)


def png_bytes(fig: Any) -> bytes:
    """A laid-out matplotlib figure as PNG bytes."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def confusion_png(metrics: Mapping[str, Any], title: str) -> bytes:
    """A row-normalised confusion matrix (recall on the diagonal) as PNG bytes."""
    matrix = np.array(metrics["confusion_matrix"], dtype=float)
    norm = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1)

    def draw(fig: Any, ax: Any) -> None:
        image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(CATEGORIES)), CATEGORIES)
        ax.set_yticks(range(len(CATEGORIES)), CATEGORIES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        for (i, j), value in np.ndenumerate(norm):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                color="white" if value > 0.5 else "black",
            )
        fig.colorbar(image, ax=ax)

    return figure_png(draw)


def importance_png(importance: Mapping[str, float], title: str) -> bytes:
    """A horizontal bar chart of permutation importances as PNG bytes."""
    items = sorted(importance.items(), key=lambda kv: kv[1])

    def draw(fig: Any, ax: Any) -> None:
        ax.barh([k for k, _ in items], [v for _, v in items], color="#4c72b0")
        ax.set_xlabel("drop in accuracy when shuffled")
        ax.set_title(title)

    return figure_png(draw)


def render_report(
    evaluations: Sequence[Mapping[str, Any]],
    selected: str,
    selection_metric: str,
    images: Mapping[str, Mapping[str, bytes]],
) -> str:
    """One self-contained HTML page comparing every candidate (plots embedded)."""
    head = ["candidate", "split", "accuracy", "macro-F1", "ROC AUC (ovr)", "rows"]
    rows = []
    for ev in evaluations:
        for split in ("validation", "test"):
            m = ev[split]
            mark = " ★" if ev["name"] == selected else ""
            rows.append(
                [
                    f"{ev['name']}{mark}",
                    split,
                    fmt(m["accuracy"]),
                    fmt(m["macro_f1"]),
                    fmt(m["roc_auc_ovr"]),
                    str(m["rows"]),
                ]
            )
    rows.append(
        [
            "data scientists' notebook (reported)",
            "their holdout",
            *(fmt(NOTEBOOK_BASELINE[k]) for k in ("accuracy", "macro_f1", "roc_auc_ovr")),
            "—",
        ]
    )
    table = html_table(head, rows)
    sections = []
    for ev in evaluations:
        name = ev["name"]
        per_class = [
            [c, *(fmt(v[k]) for k in ("precision", "recall", "f1")), str(v["support"])]
            for c, v in ev["test"]["per_class"].items()
        ]
        figs = "".join(
            f'<img alt="{html.escape(k)} of {html.escape(name)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
            for k, png in images.get(name, {}).items()
        )
        kind = html.escape(str(ev["spec"].get("kind")))
        per_class_table = html_table(["class", "precision", "recall", "F1", "support"], per_class)
        rule = ev["decision"]  # decision.describe of the candidate's final step
        tuned = f", alpha {rule['alpha']}" if "alpha" in rule else ""
        decision = html.escape(f"{rule['rule']}{tuned}")
        sections.append(
            f"<h2>{html.escape(name)}</h2><p>kind: <code>{kind}</code>; answer: {decision}</p>"
            f"{per_class_table}<div>{figs}</div>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Candidate report</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:75em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.3em .7em;text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:48%;margin:.5em}</style></head><body>"
        f"<h1>Price-category candidates</h1><p>Selected: <b>{html.escape(selected)}</b> "
        f"(best {html.escape(selection_metric)} on the validation rows; the test rows were "
        f"used for nothing but these figures).</p>{table}{''.join(sections)}</body></html>"
    )


def registered_section(selected: str, record: Mapping[str, Any], fitted_rows: int) -> str:
    """HTML: the model that is registered, beside the candidate it came from, both on the test
    rows. ``record`` is the refit stage's (``refit``, ``test``; with a refit also ``rows``,
    ``rounds`` and ``before``: the selected candidate's figures); ``fitted_rows`` is how many
    training rows the candidates were fitted on. The candidates' table above describes fits
    on the training rows alone, which is not what a refit registers."""
    test = record["test"]
    head = ["model", "fitted on", "test accuracy", "test macro-F1", "test ROC AUC", "test rows"]
    rows = []
    if record.get("refit"):
        before = record["before"]["test"]
        rows.append([f"{selected}, the selected candidate", f"{fitted_rows:,} training rows",
                     *_scores(before), str(before["rows"])])  # fmt: skip
        rounds = record.get("rounds")
        how = f"; {rounds['before']} → {rounds['after']} boosting rounds" if rounds else ""
        fitted = f"{record['rows']:,} training + validation rows{how}"
        what = f"{selected} fitted again (select.refit)"
    else:
        fitted, what = f"{fitted_rows:,} training rows", f"{selected}, as selected"
    rows.append([f"registered: {what}", fitted, *_scores(test), str(test["rows"])])
    per_class = [
        [c, *(fmt(v[k]) for k in ("precision", "recall", "f1")), str(v["support"])]
        for c, v in test["per_class"].items()
    ]
    confusion = base64.b64encode(confusion_png(test, "registered model: test rows")).decode()
    return (
        "<h2>The registered model</h2><p>What <code>models list</code>, <code>GET /model</code> "
        "and the gate describe: every figure here is on the test rows, which no fit and no "
        "choice saw.</p>"
        f"{html_table(head, rows)}"
        f"{html_table(['class', 'precision', 'recall', 'F1', 'support'], per_class)}"
        f'<div><img alt="confusion of the registered model" src="data:image/png;base64,'
        f'{confusion}"></div>'
    )


def with_registered(report: str, section: str) -> str:
    """The candidates' ``report`` with the registered model's ``section`` first, right after
    the page's introduction (its first paragraph)."""
    at = report.find("</p>")
    if at < 0:
        return report.replace("</body>", f"{section}</body>")
    at += len("</p>")
    return f"{report[:at]}{section}<h2>The candidates</h2>{report[at:]}"


def write_report(
    folder: Path, candidates_report: Path, selection: Mapping[str, Any], record: dict[str, Any]
) -> dict[str, Any]:
    """Write ``folder/report.html``: the candidates' report with the registered model's
    section first; returns ``record`` (the refit stage's) with the report's path."""
    fitted_rows = int(record.get("trained_rows") or record["rows"])
    section = registered_section(str(selection["selected"]), record, fitted_rows)
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "report.html"
    report.write_text(with_registered(candidates_report.read_text(), section))
    return {**record, "report": str(report.resolve())}


def training_table(record: Mapping[str, Any]) -> str:
    """The table ``train`` prints: each candidate on the validation and test rows, the
    registered model on the test rows, and which rows each figure was measured on."""
    lines = [
        f"{'candidate':<16} {'val acc':>8} {'val F1':>8} {'test acc':>9} {'test F1':>8} "
        f"{'test AUC':>9}"
    ]
    for name, m in sorted(record["candidates"].items()):
        mark = " *" if name == record["selected"] else ""
        v, t = m["validation"], m["test"]
        lines.append(
            f"{name + mark:<16} {v['accuracy']:>8.3f} {v['macro_f1']:>8.3f} "
            f"{t['accuracy']:>9.3f} {t['macro_f1']:>8.3f} {t['roc_auc_ovr'] or 0:>9.3f}"
        )
    lines.append(f"selected: {record['selected']} (by validation {record['metric']})")
    refit = record.get("refit") or {}
    t = refit.get("test") or record["metrics"]["test"]
    if refit.get("refit"):
        rounds = refit.get("rounds")
        more = f", {rounds['before']} → {rounds['after']} rounds" if rounds else ""
        how = f"{record['selected']} fitted again on {refit['rows']:,} training + validation rows"
        how += more
    else:
        how = f"{record['selected']} as selected, fitted on the training rows"
    lines.append(
        f"{'registered':<16} {'':>8} {'':>8} {t['accuracy']:>9.3f} {t['macro_f1']:>8.3f} "
        f"{t['roc_auc_ovr'] or 0:>9.3f}   {how}"
    )
    validation, test = record["metrics"]["validation"], record["metrics"]["test"]
    trained = refit.get("trained_rows") or refit.get("rows")
    fitted = f"candidates fitted on {trained:,} training rows; " if trained else ""
    lines.append(
        f"rows: {fitted}val = {validation['rows']:,} validation rows (choose the candidate); "
        f"test = {test['rows']:,} test rows (seen by no fit or choice)"
    )
    lines.append(f"registered: {record['tag']}")
    lines.append(f"report: {record['report']}")
    return "\n".join(lines)


def _scores(metrics: Mapping[str, Any]) -> list[str]:
    return [fmt(metrics[k]) for k in ("accuracy", "macro_f1", "roc_auc_ovr")]


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
