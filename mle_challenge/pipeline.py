"""Luigi wiring only: each task reads its input, calls one function, writes one output.

Caching works like ``dvc repro``: every task's output lives under a folder named by its
*fingerprint*, a hash of the fingerprint of its input (ultimately the listings file's
content hash), its own parameter section and the source of its own code. Re-running with
nothing changed finds every output and runs nothing; changing the ``train`` section gives
new fingerprints from training down, while preprocessing and the split are found as they
were. Outputs are written through ``temporary_path()``, so a killed task leaves nothing that
looks complete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import luigi
import luigi.configuration
from luigi.execution_summary import LuigiStatusCode

from mle_challenge.config import MODEL_NAME
from mle_challenge.data.sources import file_sha256
from mle_challenge.lifecycle.outputs import Outputs

# The `luigi` command reads [retcode] from its config; ship ours with the package so that
# `luigi --module mle_challenge.pipeline` exits non-zero when a task fails.
luigi.configuration.add_config_path(str(Path(__file__).with_name("luigi.cfg")))


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_version(*modules: str) -> str:
    """A hash of the modules' source: editing a stage's code invalidates its outputs.

    Modules are named, not imported, so checking what is complete stays fast.
    """
    digest = hashlib.sha256()
    for name in modules:
        spec = find_spec(f"mle_challenge.{name}")
        assert spec is not None and spec.origin is not None, name
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


class _Stage(luigi.Task):
    """A task whose output folder is named by its fingerprint."""

    root = luigi.Parameter(default="outputs", description="Folder for all pipeline outputs.")
    stage: str = ""
    filename: str = ""

    def code(self) -> str:
        raise NotImplementedError

    def own_params(self) -> Any:
        return None

    @cached_property
    def fingerprint(self) -> str:
        upstream = self.requires()
        parent = upstream.fingerprint if isinstance(upstream, _Stage) else None
        return fingerprint(self.stage, parent, self.own_params(), self.code())

    @property
    def outputs(self) -> Outputs:
        return Outputs(str(self.root))

    @property
    def relative(self) -> str:
        return f"cache/{self.stage}/{self.fingerprint}"

    @property
    def folder(self) -> Path:
        """Where this stage writes, on this machine (a mirror when the outputs are shared)."""
        return self.outputs.local / self.relative

    def output(self) -> StageTarget:
        return StageTarget(self.outputs, self.relative, self.filename)

    def run(self) -> None:
        self.produce()
        self.outputs.publish(self.relative, self.filename)  # shared outputs: output file last

    def produce(self) -> None:
        """Write this stage's folder, its output file last (atomically)."""
        raise NotImplementedError

    def _written(self) -> luigi.LocalTarget:
        """The output file as this run writes it: ``temporary_path()`` renames it into place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = luigi.LocalTarget(str(self.folder / self.filename))
        # A stage found stale by complete() runs again over its old output, which Luigi's
        # temporary_path() will not overwrite.
        Path(target.path).unlink(missing_ok=True)
        return target

    def _write_json(self, payload: Any) -> None:
        with self._written().temporary_path() as tmp:
            Path(tmp).write_text(json.dumps(payload, indent=2, default=str))

    def on_failure(self, exception: BaseException) -> Any:
        from mle_challenge.lifecycle.failures import explain

        return explain(exception) or super().on_failure(exception)  # ours: one line, no trace

    def _progress(self, percent: int, message: str) -> None:
        # Luigi's worker assigns these callbacks at run time; its type hints say None.
        self.set_status_message(message)  # type: ignore[misc]
        self.set_progress_percentage(percent)  # type: ignore[misc]


class StageTarget(luigi.Target):
    """A stage's output file: complete once published; ``path`` is its copy on this machine,
    fetched from shared outputs the first time it is read."""

    def __init__(self, outputs: Outputs, folder: str, filename: str) -> None:
        self.outputs, self.folder, self.filename = outputs, folder, filename

    def exists(self) -> bool:
        return self.outputs.exists(f"{self.folder}/{self.filename}")

    @property
    def path(self) -> str:
        return str(self.outputs.fetch(self.folder, self.filename) / self.filename)


class _DataParams(luigi.Task):
    listings = luigi.Parameter(description="Path, http(s):// or s3:// URL of raw listings.")
    data_hash = luigi.Parameter(description="sha256 of the listings file's content.")


class _SplitParams(_DataParams):
    split = luigi.DictParameter(description="The `split` section of params.yaml.")
    prices: Any = luigi.DictParameter(
        default={}, description="The `prices` section of params.yaml (default: NYC's edges)."
    )


class _CandidateParams(_SplitParams):
    candidate = luigi.Parameter(description="The candidate's name in params.yaml.")
    spec = luigi.DictParameter(description="The candidate's {kind, params}.")


class _SelectParams(_SplitParams):
    candidates = luigi.DictParameter(description="The `train.candidates` section.")
    select = luigi.DictParameter(description="The `select` section of params.yaml.")


class Preprocess(_Stage, _DataParams):
    """Raw listings → clean table (Parquet) and the drop report beside it."""

    stage, filename = "preprocess", "clean.parquet"

    def code(self) -> str:
        return code_version("data.clean")

    def own_params(self) -> Any:
        return self.data_hash

    def requires(self) -> list[luigi.Task]:
        return []

    def produce(self) -> None:
        from mle_challenge.data import clean

        self._progress(10, f"reading {self.listings}")
        result = clean.load_clean(str(self.listings))
        written = self._written()
        report = {**result.report.__dict__, "source": str(self.listings)}
        (self.folder / "report.json").write_text(json.dumps(report, indent=2))
        with written.temporary_path() as tmp:
            result.table.to_parquet(tmp, index=False)
        self._progress(100, f"kept {result.report.rows_kept:,} of {result.report.rows_read:,}")


class Split(_Stage, _SplitParams):
    """Clean table → ids of the train, validation and test rows, and the price edges."""

    stage, filename = "split", "split.json"

    def requires(self) -> Preprocess:
        return self.clone(Preprocess)

    def code(self) -> str:
        return code_version("data.split")

    def own_params(self) -> Any:
        return {"split": dict(self.split), "prices": _price_rule(self.prices)}

    def produce(self) -> None:
        import pandas as pd

        from mle_challenge.data import split

        table = pd.read_parquet(self.input().path, columns=["id", "price"])
        rule = _price_rule(self.prices)
        ids, edges = split.split_and_label(table, rule, **dict(self.split))
        self._write_json(
            {
                **ids.to_dict(),
                "price_edges": list(edges),
                "price_rule": "quantile" if rule == "quantile" else "fixed",
            }
        )


def _price_rule(prices: Any) -> Any:
    from mle_challenge.config import PricesParams

    edges = PricesParams(**dict(prices)).edges
    return edges if edges == "quantile" else list(edges)


def _load_split(task: luigi.Task) -> tuple[Any, dict[str, list[int]]]:
    import pandas as pd

    from mle_challenge.data.clean import price_category

    split_task = task.clone(Split)
    table = pd.read_parquet(split_task.input().path)
    parts = json.loads(Path(split_task.output().path).read_text())
    # The categories by this split's edges (cleaning cut them by NYC's).
    table["category"] = price_category(table["price"], parts["price_edges"])
    return table, parts


def _part(table: Any, ids: list[int]) -> tuple[Any, Any]:
    from mle_challenge.model import features

    rows = table[table["id"].isin(ids)]
    return features.to_model_input(rows), rows["category"].astype(str).reset_index(drop=True)


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
        model = train.fit_candidate(_plain(self.spec), X, y)
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
            joblib.load(self.selected_model().path), X, y, trained_rows=len(parts["train"])
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, self.folder / "model.joblib")
        X_test, y_test = _part(table, parts["test"])
        test = evaluate.classification_metrics(model, X_test, pd.Series(y_test))
        record = {"refit": True, **refit, "test": test, "before": selection["metrics"]}
        self._write_json(evaluate.write_report(self.folder, self._report(), selection, record))
        self._progress(100, f"test macro-F1 {selection['metrics']['test']['macro_f1']:.3f} → "
                            f"{test['macro_f1']:.3f} after the refit")  # fmt: skip


class RegisterModel(_Stage, _SelectParams):
    """The chosen model → ``<register.model_name>:<version>`` in the BentoML model store
    (``price_classifier`` unless the params or ``train --model-name`` say otherwise)."""

    register = luigi.DictParameter(description="The `register` section of params.yaml.")
    stage, filename = "register", "registered.json"

    def requires(self) -> RefitModel:
        return self.clone(RefitModel)

    def code(self) -> str:
        return code_version(
            "lifecycle.registry", "lifecycle.store", "monitoring.profile", "model.city"
        )

    def complete(self) -> bool:
        """Done only while the recorded model is in this run's store and intact: after it is
        deleted, damaged, or with another ``BENTOML_HOME``, the stage registers again."""
        from mle_challenge.errors import MleError
        from mle_challenge.lifecycle import shared, store

        if not super().complete():
            return False
        try:
            tag = json.loads(Path(self.output().path).read_text())["tag"]
        except (MleError, OSError, ValueError, KeyError):
            return False
        try:
            store.verified(tag)
        except (MleError, OSError, ValueError, KeyError):
            # Another machine registered it: done when the shared registry has it (it is
            # pulled, and verified, where it is needed).
            return shared.is_published(tag)
        return True

    def own_params(self) -> Any:
        return dict(self.register)

    def produce(self) -> None:
        import joblib

        from mle_challenge.lifecycle import registry, shared
        from mle_challenge.monitoring import profile

        refit_task = self.requires()
        refit = json.loads(Path(self.input().path).read_text())
        selected = Path(refit_task.input().path)
        selection = json.loads(selected.read_text())
        table, parts = _load_split(self)
        seen = [*parts["train"], *parts["validation"]] if refit["refit"] else parts["train"]
        X, _ = _part(table, seen)
        city = self._city(table[table["id"].isin(seen)], parts)
        # What monitoring compares served listings with: the rows the model was fitted on, and
        # the classes it answered on the test rows.
        reference = profile.build_profile(X, refit["test"]["confusion_matrix"])
        self._progress(20, f"registering {selection['selected']}")
        # validation: as the candidate was chosen; test: the model registered (the refit's)
        metrics = {"validation": selection["metrics"]["validation"], "test": refit["test"]}
        # The model file as this machine has it (``model_path`` in the selection is where the
        # machine that selected it kept it).
        if refit["refit"]:
            model_file = Path(self.input().path).parent / "model.joblib"
        else:
            model_file = Path(refit_task.selected_model().path)
        tag = registry.register_model(
            joblib.load(model_file),
            fingerprint=self.fingerprint,
            candidate=selection["selected"],
            metrics=metrics,
            params={
                "split": dict(self.split),
                "candidate": _plain(self.candidates[selection["selected"]]),
                "select": dict(self.select),
            },
            data_fingerprint=str(self.data_hash),
            report_path=refit["report"],
            name=str(self.register["model_name"]),
            extra_files={
                profile.PROFILE_FILE: profile.profile_bytes(reference),
                registry.TRAINED_IDS_FILE: registry.trained_ids_bytes(seen),
            },
            city=city,
        )
        if shared.push_registered(tag):  # MLE_REGISTRY: every machine can pull it
            self._progress(90, f"pushed {tag} to the shared registry")
        self._write_json(
            {"tag": tag, **selection, "report": refit["report"], "metrics": metrics, "refit": refit}
        )
        self._progress(100, f"registered {tag}")

    def _city(self, rows: Any, parts: dict[str, Any]) -> Any:
        """The city facts of the rows the model was fitted on."""
        from mle_challenge.model.city import learn_city
        from mle_challenge.model.features import example_listing

        report = Path(self.clone(Split).input().path).with_name("report.json")
        sources = json.loads(report.read_text()).get("neighbourhood_source", {})
        return learn_city(
            rows,
            price_edges=parts["price_edges"],
            price_rule=parts["price_rule"],
            neighbourhood_source=sources,
            example=example_listing(rows),
        )


class GateModel(_Stage, _SelectParams):
    """The registered model → its gate result (also kept on its card, for ``promote``).

    ``against`` is the production model when the run was scheduled: a new production model
    makes the regression check, and so this stage, run again.
    """

    register = luigi.DictParameter(description="The `register` section of params.yaml.")
    gate = luigi.DictParameter(description="The `gate` section of params.yaml.")
    against = luigi.Parameter(default="", description="Production model to compare with.")
    stage, filename = "gate", "gate.json"

    def requires(self) -> RegisterModel:
        return self.clone(RegisterModel)

    def complete(self) -> bool:
        # Luigi does not look below a complete task: a gate result stands only while the model
        # it judged is still registered and intact.
        return bool(super().complete() and self.requires().complete())

    def code(self) -> str:
        return code_version(
            "lifecycle.gate", "model.predictor", "model.decision", "model.fastpath", "model.schema"
        )

    def own_params(self) -> Any:
        return {"gate": dict(self.gate), "against": str(self.against)}

    def produce(self) -> None:
        from mle_challenge.config import GateParams
        from mle_challenge.lifecycle import shared, store
        from mle_challenge.lifecycle.gate import run_gate

        # Registered here, or by another machine and pulled from the shared registry.
        tag = shared.ensure_local(json.loads(Path(self.input().path).read_text())["tag"])
        table, parts = _load_split(self)
        rows = table[table["id"].isin(parts["test"])]
        held_out = features_frame(rows)
        self.folder.mkdir(parents=True, exist_ok=True)
        held_out_path = self.folder / "held_out.parquet"
        held_out.to_parquet(held_out_path, index=False)
        self._progress(30, f"gating {tag} on {len(held_out):,} held-out rows")
        result = run_gate(tag, held_out, GateParams(**dict(self.gate)), str(self.against) or None)
        store.update_card(tag, gate=result.as_dict(), held_out=str(held_out_path.resolve()))
        self._write_json(result.as_dict())
        self._progress(100, f"gate {'passed' if result.passed else 'FAILED'}")


def features_frame(rows: Any) -> Any:
    """Held-out rows as the gate reads them: the API columns, ``id`` and ``category``."""
    from mle_challenge.model import features

    frame = features.to_model_input(rows)
    return frame.assign(id=rows["id"].to_numpy(), category=rows["category"].astype(str).to_numpy())


_PARAMS_HELP = "The parameter file (default: ./params.yaml if there is one, else the packaged one)."


class TrainingPipeline(luigi.WrapperTask):
    """Entry point: raw listings → registered model, with every stage cached by content."""

    listings = luigi.Parameter(description="Path, http(s):// or s3:// URL of raw listings.")
    params = luigi.Parameter(default="", description=_PARAMS_HELP)
    root = luigi.Parameter(default="outputs", description="Folder for all pipeline outputs.")
    model_name = luigi.Parameter(
        default="", description="The registered name (default: the params' register.model_name)."
    )

    @cached_property
    def _gate_task(self) -> GateModel:
        from mle_challenge.config import check_model_name, load_params, params_source
        from mle_challenge.lifecycle import production

        p = load_params(params_source(str(self.params) or None).path)
        if self.model_name:
            # The name is part of `register`, so of the cache key: the same data under two
            # names gives two models, each with its own production alias.
            named = {"model_name": check_model_name(str(self.model_name))}
            p = p.model_copy(update={"registry": p.registry.model_copy(update=named)})
        values: dict[str, Any] = {
            "root": self.root,
            "listings": self.listings,
            "data_hash": file_sha256(str(self.listings)),
            "split": p.split.model_dump(),
            "prices": p.prices.model_dump(),
            "candidates": {
                k: v.model_dump(exclude_none=True) for k, v in p.train.candidates.items()
            },
            "select": p.select.model_dump(),
            "register": p.registry.model_dump(),
            "gate": p.gate.model_dump(),
            "against": production.production_tag(p.registry.model_name) or "",
        }
        return GateModel(**values)

    @property
    def _register_task(self) -> RegisterModel:
        return self._gate_task.requires()

    def requires(self) -> GateModel:
        return self._gate_task

    def gate_result(self) -> dict[str, Any]:
        return dict(json.loads(Path(self._gate_task.output().path).read_text()))

    def registered(self) -> dict[str, Any]:
        """The registration record (tag, selection, metrics) once the pipeline has run."""
        return dict(json.loads(Path(self._register_task.output().path).read_text()))


def _plain(value: Any) -> Any:
    """Luigi's frozen dicts → plain JSON-able values."""
    return json.loads(json.dumps(value, default=dict))


def _summary(ev: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "macro_f1", "roc_auc_ovr")
    return {part: {k: ev[part][k] for k in keys} for part in ("validation", "test")}


class BatchPredict(luigi.Task):
    """Listings (raw or API-shaped; path, HTTP or S3) → predictions with the given model.

    ``luigi --module mle_challenge.pipeline BatchPredict --input SOURCE --output-path PATH
    [--model TAG | --model-name NAME] --local-scheduler`` (Luigi keeps the name ``output`` for
    the method that says where a task writes). The output appears only once complete.
    """

    # No upstream tasks, so nothing needs Task.input(); the flag stays --input.
    input = luigi.Parameter(  # type: ignore[assignment]
        description="Listings to predict: CSV or Parquet, path or URL."
    )
    output_path = luigi.Parameter(description="Predictions: .csv, .csv.gz or .parquet.")
    model = luigi.Parameter(default="", description="Model tag (default: production).")
    model_name = luigi.Parameter(
        default=MODEL_NAME, description="Whose production model, without `model`."
    )
    chunk_rows = luigi.IntParameter(default=100_000)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.output_path))

    def run(self) -> None:
        from mle_challenge.batch.predict import predict_file

        self.set_status_message(f"predicting {self.input}")  # type: ignore[misc]
        report = predict_file(
            str(self.input),
            str(self.output_path),
            str(self.model) or None,
            int(self.chunk_rows),
            model_name=str(self.model_name),
        )
        self.set_status_message(report.format())  # type: ignore[misc]


# --- monitoring ---


class MonitorAlarm(Exception):
    """A monitoring run passed a threshold of params.yaml's ``monitor`` section."""


def run_monitor(
    report: str | Path,
    *,
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
    ``report``; the summary's ``alarm`` says whether a threshold was passed. ``params_path``
    None: ``./params.yaml`` if there is one, else the packaged defaults."""
    from datetime import UTC

    from mle_challenge.config import get_settings, load_params, params_source
    from mle_challenge.data.clean import read_actuals
    from mle_challenge.lifecycle.store import state_dir
    from mle_challenge.monitoring import monitor
    from mle_challenge.monitoring.log import resolve_url

    params = load_params(params_source(params_path).path).monitor
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


# --- running the pipeline from Python (the CLI's `train`) ---

_OK = {LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY}


@dataclass(frozen=True)
class TrainingOutcome:
    ok: bool
    summary: str
    table: str
    tag: str | None = None  # the registered model, when the run succeeded
    gate: dict[str, Any] | None = None  # its gate result


def run_training(
    source: str,
    params_path: str | None,
    outputs: str,
    workers: int = 1,
    scheduler_url: str | None = None,
    model_name: str | None = None,
) -> TrainingOutcome:
    """Build the pipeline; unlike ``luigi.build``'s bool, ``ok`` is False when any task failed.
    ``params_path`` None: ``./params.yaml`` if there is one, else the packaged defaults.
    ``model_name`` None: the params' ``register.model_name``."""
    from mle_challenge.config import check_model_name, load_params, params_source
    from mle_challenge.lifecycle import failures

    params = params_source(params_path).path
    load_params(params)  # fail on a bad file before Luigi swallows the error in a task
    Outputs(outputs).check()  # shared outputs out of reach: one clear error, before any work
    # A plain string of the resolved path: the task's id names the file actually read.
    task = TrainingPipeline(
        listings=source,
        params=str(params),
        root=outputs,
        model_name=check_model_name(model_name) if model_name else "",
    )
    task.requires()  # hash the source up front, so a missing file is our clear error
    scheduler = {"scheduler_url": scheduler_url} if scheduler_url else {"local_scheduler": True}
    if scheduler_url:
        # Several workers on one luigid: a worker whose next task another worker is running
        # waits for it, then goes on with what depends on it, instead of stopping there.
        luigi.configuration.get_config().set("worker", "keep_alive", "true")
    failures.quiet_our_errors()
    result = luigi.build(
        [task], workers=workers, detailed_summary=True, log_level="WARNING", **scheduler
    )
    # With several workers on one luigid, the tasks another worker ran are "not granted run
    # permission" in this worker's summary: the run is good when the pipeline is complete.
    ok = result.status in _OK or (result.status == LuigiStatusCode.NOT_RUN and task.complete())
    if not ok:
        failures.raise_task_error(result.worker)  # bad data: our one line, not Luigi's summary
        return TrainingOutcome(ok=False, summary=result.summary_text, table="")
    return TrainingOutcome(
        ok=True,
        summary=result.summary_text,
        table=_table(task),
        tag=task.registered()["tag"],
        gate=task.gate_result(),
    )


def _table(task: TrainingPipeline) -> str:
    from mle_challenge.model.evaluate import training_table

    return training_table(task.registered())
