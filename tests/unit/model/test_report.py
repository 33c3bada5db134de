"""The training report and table show the registered model, and say which rows each figure
is on (issue 26 item 4: they described the candidates, not the refit that is registered)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mle_challenge import CATEGORIES
from mle_challenge.model import evaluate

pytestmark = pytest.mark.unit


def _metrics(accuracy: float, f1: float, rows: int) -> dict[str, Any]:
    per_class = {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for c in CATEGORIES}
    return {"rows": rows, "accuracy": accuracy, "macro_f1": f1, "roc_auc_ovr": 0.8,
            "per_class": per_class, "confusion_matrix": [[1, 0, 0, 0]] * 4}  # fmt: skip


REFIT = {
    "refit": True, "rows": 4_200, "trained_rows": 3_600, "rounds": {"before": 70, "after": 91},
    "test": _metrics(0.609, 0.586, 900),
    "before": {"validation": _metrics(0.65, 0.62, 900), "test": _metrics(0.640, 0.614, 900)},
}  # fmt: skip
KEPT = {"refit": False, "rows": 3_600, "test": _metrics(0.640, 0.614, 900)}


def _record(refit: dict[str, Any]) -> dict[str, Any]:
    summary = {"validation": {"accuracy": 0.65, "macro_f1": 0.62, "roc_auc_ovr": 0.8},
               "test": {"accuracy": 0.640, "macro_f1": 0.614, "roc_auc_ovr": 0.8}}  # fmt: skip
    return {
        "tag": "price_classifier:abc", "selected": "hist_gb", "metric": "macro_f1",
        "report": "r.html", "candidates": {"hist_gb": summary, "baseline_rf": summary},
        "metrics": {"validation": _metrics(0.65, 0.62, 880), "test": refit["test"]},
        "refit": refit,
    }  # fmt: skip


def test_the_table_shows_the_registered_refit_and_the_rows_of_each_figure() -> None:
    lines = evaluate.training_table(_record(REFIT)).splitlines()
    registered = next(line for line in lines if line.startswith("registered "))
    assert "0.609" in registered and "0.586" in registered
    assert "hist_gb fitted again on 4,200 training + validation rows, 70 → 91 rounds" in registered
    rows = next(line for line in lines if line.startswith("rows: "))
    assert "candidates fitted on 3,600 training rows" in rows
    assert "880 validation rows" in rows and "900 test rows" in rows


def test_without_a_refit_the_registered_model_is_the_candidate() -> None:
    lines = evaluate.training_table(_record(KEPT)).splitlines()
    registered = next(line for line in lines if line.startswith("registered "))
    assert "0.640" in registered and "as selected, fitted on the training rows" in registered
    assert "candidates fitted on 3,600 training rows" in lines[-3]


def test_the_report_puts_the_registered_model_first(tmp_path: Path) -> None:
    candidates = tmp_path / "select" / "report.html"
    candidates.parent.mkdir()
    candidates.write_text("<html><body><h1>x</h1><p>Selected: hist_gb</p><table>c</table>"
                          "</body></html>")  # fmt: skip
    record = evaluate.write_report(tmp_path / "refit", candidates, {"selected": "hist_gb"}, REFIT)
    page = Path(record["report"]).read_text()
    assert record["rows"] == 4_200 and Path(record["report"]).parent.name == "refit"
    assert page.index("The registered model") < page.index("The candidates") < page.index("c</t")
    assert "3,600 training rows" in page and "4,200 training + validation rows" in page
    assert "0.586" in page and "0.614" in page  # the refit beside the candidate it came from
    kept = evaluate.write_report(tmp_path / "kept", candidates, {"selected": "hist_gb"}, KEPT)
    assert "registered: hist_gb, as selected" in Path(kept["report"]).read_text()
