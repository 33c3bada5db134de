"""The candidates' stages: train each, score each, select the best, fit it again."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from mle_challenge.pipeline.cache import StageTarget, _plain, _Stage, code_version, fingerprint
from mle_challenge.pipeline.inputs import (
    Split,
    _CandidateParams,
    _load_split,
    _part,
    _SelectParams,
)


class TrainCandidate(_Stage, _CandidateParams):
    """Train rows → one fitted candidate pipeline (joblib)."""

    stage, filename = "train", "model.joblib"

    def requires(self) -> Split:
        return self.clone(Split)

    def code(self) -> str:
        return code_version("model.features", "model.train", "model.decision")

    def own_params(self) -> Any:
        return {"name": self.candidate, "spec": _plain(self.spec)}

    def produce(self) -> None:
        import joblib

        from mle_challenge.model import train

        table, parts = _load_split(self)
        X, y = _part(table, parts["train"])
        self._progress(5, f"fitting {self.candidate} on {len(X):,} rows")
        model = train.fit_candidate(
            _plain(self.spec), X, y, **_reporting(train.fit_candidate, self)
        )
        with self._written().temporary_path() as tmp:
            joblib.dump(model, tmp)
        self._progress(100, f"fitted {self.candidate}")


class EvaluateCandidate(_Stage, _CandidateParams):
    """Fitted candidate → metrics on the validation and test rows, plus plots."""

    stage, filename = "evaluate", "metrics.json"

    def requires(self) -> TrainCandidate:
        return self.clone(TrainCandidate)

    def code(self) -> str:
        return code_version("model.evaluate", "model.decision")

    def produce(self) -> None:
        import joblib

        from mle_challenge.model import decision, evaluate

        model = joblib.load(self.input().path)
        table, parts = _load_split(self)
        self._progress(10, f"scoring {self.candidate}")
        result: dict[str, Any] = {
            "name": self.candidate,
            "spec": _plain(self.spec),
            "decision": decision.describe(model.steps[-1][1]),
        }
        for part in ("validation", "test"):
            X, y = _part(table, parts[part])
            result[part] = evaluate.classification_metrics(model, X, y)
        self._progress(50, f"feature importance of {self.candidate}")
        X, y = _part(table, parts["validation"])
        result["importance"] = evaluate.feature_importance(model, X, y)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "confusion.png").write_bytes(
            evaluate.confusion_png(result["test"], f"{self.candidate}: test rows")
        )
        (self.folder / "importance.png").write_bytes(
            evaluate.importance_png(result["importance"], f"{self.candidate}: importance")
        )
        self._write_json(result)


class SelectModel(_Stage, _SelectParams):
    """All candidates' metrics → the best by the selection metric, and the HTML report."""

    stage, filename = "select", "selection.json"

    def requires(self) -> list[EvaluateCandidate]:
        return [
            self.clone(EvaluateCandidate, candidate=name, spec=spec)
            for name, spec in sorted(self.candidates.items())
        ]

    @cached_property
    def fingerprint(self) -> str:
        upstream = [task.fingerprint for task in self.requires()]
        return fingerprint(self.stage, upstream, dict(self.select), code_version("model.evaluate"))

    def produce(self) -> None:
        from mle_challenge.model import evaluate

        evaluations = [json.loads(Path(t.path).read_text()) for t in self.input()]
        metric = str(self.select["metric"])
        best = max(evaluations, key=lambda ev: ev["validation"][metric] or 0.0)
        images = {
            task.candidate: {
                name: (Path(task.output().path).parent / f"{name}.png").read_bytes()
                for name in ("confusion", "importance")
            }
            for task in self.requires()
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        report = self.folder / "report.html"
        report.write_text(evaluate.render_report(evaluations, best["name"], metric, images))
        model_path = next(t for t in self.requires() if t.candidate == best["name"]).input().path
        self._write_json(
            {
                "selected": best["name"],
                "metric": metric,
                "model_path": model_path,
                "report": str(report),
                "candidates": {ev["name"]: _summary(ev) for ev in evaluations},
                "metrics": {"validation": best["validation"], "test": best["test"]},
            }
        )


class RefitModel(_Stage, _SelectParams):
    """The selected candidate → fitted again on training plus validation rows, and scored on
    the test rows (``select.refit``; off, the selected model is kept as it is)."""

    stage, filename = "refit", "refit.json"

    def requires(self) -> SelectModel:
        return self.clone(SelectModel)

    def code(self) -> str:
        return code_version("model.features", "model.train", "model.decision", "model.evaluate")

    def selected_model(self) -> StageTarget:
        """The selected candidate's model file, as the training stage wrote it."""
        selection = json.loads(Path(self.input().path).read_text())
        return next(
            t.input() for t in self.requires().requires() if t.candidate == selection["selected"]
        )

    def _report(self) -> Path:
        return Path(self.input().path).with_name("report.html")  # the candidates' report

    def produce(self) -> None:
        import joblib
        import pandas as pd

        from mle_challenge.model import evaluate, train

        selection = json.loads(Path(self.input().path).read_text())
        if not self.select.get("refit", True):
            train_ids = json.loads(Path(self.clone(Split).output().path).read_text())["train"]
            kept = {"refit": False, "rows": len(train_ids), "test": selection["metrics"]["test"]}
            self._write_json(evaluate.write_report(self.folder, self._report(), selection, kept))
            return
        table, parts = _load_split(self)
        X, y = _part(table, [*parts["train"], *parts["validation"]])
        self._progress(10, f"fitting {selection['selected']} again on {len(X):,} rows")
        model, refit = train.refit_candidate(
            joblib.load(self.selected_model().path),
            X,
            y,
            trained_rows=len(parts["train"]),
            **_reporting(train.refit_candidate, self),
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, self.folder / "model.joblib")
        X_test, y_test = _part(table, parts["test"])
        test = evaluate.classification_metrics(model, X_test, pd.Series(y_test))
        record = {"refit": True, **refit, "test": test, "before": selection["metrics"]}
        self._write_json(evaluate.write_report(self.folder, self._report(), selection, record))
        self._progress(100, f"test macro-F1 {selection['metrics']['test']['macro_f1']:.3f} → "
                            f"{test['macro_f1']:.3f} after the refit")  # fmt: skip


def _summary(ev: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "macro_f1", "roc_auc_ovr")
    return {part: {k: ev[part][k] for k in keys} for part in ("validation", "test")}


def _reporting(fit: Any, stage: _Stage) -> dict[str, Any]:
    """``progress=`` for model code that takes it (``fit_candidate(..., progress=...)``
    reports each fold and round through it); nothing for code that does not yet."""
    import inspect

    accepts = "progress" in inspect.signature(fit).parameters
    return {"progress": stage.progress()} if accepts else {}
