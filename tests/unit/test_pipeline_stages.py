"""Unit tests for the pure functions behind the pipeline: params, split, features, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mle_challenge import CATEGORIES
from mle_challenge.config import load_params
from mle_challenge.data.sources import file_sha256 as content_hash
from mle_challenge.data.split import split_ids
from mle_challenge.errors import ConfigError
from mle_challenge.model.evaluate import classification_metrics
from mle_challenge.model.features import DeclaredFeatures, to_model_input
from mle_challenge.model.train import build_candidate
from mle_challenge.pipeline import code_version, fingerprint
from mle_challenge.project import airbnb

pytestmark = pytest.mark.unit


def test_repo_params_are_valid() -> None:
    """Check that the shipped params.yaml validates and keeps the notebook's baseline."""
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    assert params.train.candidates["baseline_rf"].kind == "baseline_random_forest"
    assert params.select.metric == "macro_f1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: {candidates: {}}", "train.candidates"),
        ("train: {candidates: {a: {kind: x}}}\nselect: {metric: speed}", "select.metric"),
        ("train: {candidates: {a: {kind: x}}}\nsplit: {test_size: 2}", "split.test_size"),
        ("train: {candidates: {a: {kind: x}}}\nextra: 1", "extra"),
        ("train: [", "not valid YAML"),
    ],
)
def test_invalid_params_named(tmp_path: Path, text: str, message: str) -> None:
    """Check that a bad params.yaml fails naming the file and the offending key."""
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"params\.yaml") as info:
        load_params(path)
    assert message in str(info.value)


def test_missing_params_file(tmp_path: Path) -> None:
    """Check that a missing parameter file says how to give one."""
    with pytest.raises(ConfigError, match="--params"):
        load_params(tmp_path / "absent.yaml")


def _table(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(n) + 10,
            "category": rng.choice(list(CATEGORIES), n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def test_split_is_a_partition() -> None:
    """Check that train, validation and test are disjoint, cover every id, and have the sizes."""
    table = _table()
    parts = split_ids(table, test_size=0.15, validation_size=0.15, seed=1)
    sets = [set(parts.train), set(parts.validation), set(parts.test)]
    assert sum(map(len, sets)) == len(table) == len(set.union(*sets))
    assert len(parts.test) == 60 and abs(len(parts.validation) - 60) <= 1


def test_split_is_deterministic_and_stratified() -> None:
    """Check that a seed gives the same split and each part keeps the class shares."""
    table = _table(2000)
    a = split_ids(table, 0.2, 0.2, seed=3)
    assert a == split_ids(table, 0.2, 0.2, seed=3)
    assert a != split_ids(table, 0.2, 0.2, seed=4)
    share = table.set_index("id").loc[a.test, "category"].value_counts(normalize=True)
    assert share["Lux"] == pytest.approx(0.1, abs=0.02)


def test_fingerprints_are_stable_and_sensitive(tmp_path: Path) -> None:
    """Check that fingerprints depend on every part, and content hashes on bytes only."""
    assert fingerprint("a", {"x": 1, "y": 2}) == fingerprint("a", {"y": 2, "x": 1})
    assert fingerprint("a", {"x": 1}) != fingerprint("a", {"x": 2})
    one, two = tmp_path / "1.csv", tmp_path / "2.csv"
    one.write_text("id\n1\n")
    two.write_text("id\n1\n")
    assert content_hash(str(one)) == content_hash(str(two))
    two.write_text("id\n2\n")
    assert content_hash(str(one)) != content_hash(str(two))
    assert code_version("data.clean") != code_version("data.split")
    assert code_version("data.clean") == code_version("data.clean")


# Modules a stage may call without hashing them: they move or file a model (the shared
# registry, the store's cards), they do not shape what the stage writes.
PACKAGE = Path(__file__).resolve().parents[2] / "mle_challenge"
NOT_HASHED = {"lifecycle.shared", "lifecycle.store", "config", "errors"}


def _work_modules(stage: type) -> set[str]:
    """The package modules a stage's own methods import (``from mle_challenge.x import y``)."""
    import ast
    import inspect
    import textwrap

    found: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(stage)))):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module.removeprefix("mle_challenge").lstrip(".")
            for alias in node.names:  # `from mle_challenge.lifecycle import registration`
                whole = f"{base}.{alias.name}"
                is_module = (PACKAGE / f"{whole.replace('.', '/')}.py").is_file()
                found.add(whole if is_module else base)
    return {m for m in found if m and not m.startswith("pipeline")} - NOT_HASHED


@pytest.mark.parametrize(
    "stage",
    ["Preprocess", "Split", "TrainCandidate", "EvaluateCandidate", "RefitModel", "RegisterModel",
     "GateModel"],
)  # fmt: skip
def test_a_stage_hashes_the_code_it_calls(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that each stage's fingerprint hashes every module that does its work (moving
    registration's assembly into lifecycle/registration.py must re-register when it changes)."""
    import mle_challenge.pipeline as pipeline

    task = getattr(pipeline, stage)
    hashed: list[str] = []
    module = __import__(task.__module__, fromlist=["code_version"])
    monkeypatch.setattr(module, "code_version", lambda *names: hashed.extend(names) or "")
    task.code(None)  # code() reads no parameter
    assert _work_modules(task) <= set(hashed), f"{stage} calls code it does not hash"


@pytest.mark.parametrize(
    ("stage", "modules"),
    [
        ("Preprocess", {"data.clean", "data.airbnb_fields", "data.parse"}),
        ("Split", {"data.split", "data.airbnb_fields"}),
    ],
)
def test_a_data_stage_hashes_the_parsers_it_cleans_with(
    stage: str, modules: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that the stages hash the modules the cleaning's parsers moved to from
    data/clean.py (the field parsers, the price categories), not only the module they call:
    editing a parser must re-clean and re-split."""
    import mle_challenge.pipeline as pipeline

    task = getattr(pipeline, stage)
    hashed: list[str] = []
    module = __import__(task.__module__, fromlist=["code_version"])
    monkeypatch.setattr(module, "code_version", lambda *names: hashed.extend(names) or "")
    task.code(None)
    assert modules <= set(hashed), f"{stage} does not hash {modules - set(hashed)}"


def _api_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "accommodates": [2, 6],
            "room_type": ["Private room", "Entire home/apt"],
            "beds": [1.0, 3.0],
            "bedrooms": [1.0, 3.0],
            "bathrooms": [1.0, 2.0],
            "neighbourhood": ["Bronx", "Manhattan"],
            "tv": [0, 1],
            "elevator": [0, 1],
            "internet": [0, 0],
            "latitude": [40.85, 40.76],
            "longitude": [-73.86, -73.98],
        }
    )


def test_to_model_input_renames_and_orders() -> None:
    """Check that the clean table's TV/Elevator/Internet become the API's field names, in order."""
    clean = _api_rows().rename(columns={"tv": "TV", "elevator": "Elevator", "internet": "Internet"})
    assert tuple(to_model_input(clean.assign(extra=1)).columns) == tuple(airbnb().fields)


def test_listing_features_unknown_category_is_missing() -> None:
    """Check that a category unseen in training encodes as missing, not as a wrong code."""
    encoder = DeclaredFeatures.of(airbnb()).fit(_api_rows())
    matrix = encoder.transform(_api_rows().assign(neighbourhood=["Atlantis", "Bronx"]))
    assert np.isnan(matrix[0, 1]) and matrix[1, 1] == 0.0
    assert matrix.shape[1] == len(encoder.get_feature_names_out())


def test_unknown_candidate_kind() -> None:
    """Check that an unknown model kind names the kinds that exist."""
    with pytest.raises(ConfigError, match="hist_gradient_boosting"):
        build_candidate({"kind": "deep_magic"})


def test_metrics_of_a_perfect_model() -> None:
    """Check the metrics of a model that is always right, with classes in price order."""

    class Oracle:
        classes_ = np.array(sorted(CATEGORIES))

        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            return np.array([[float(c == t) for c in self.classes_] for t in X["truth"]])

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.asarray(X["truth"])

    y = pd.Series(["Low", "Mid", "High", "Lux", "Low"])
    metrics = classification_metrics(Oracle(), pd.DataFrame({"truth": y}), y)
    assert metrics["accuracy"] == metrics["macro_f1"] == metrics["roc_auc_ovr"] == 1.0
    assert metrics["confusion_matrix"][0] == [2, 0, 0, 0]
    assert list(metrics["per_class"]) == list(CATEGORIES)


# --- progress and the outputs lock ---


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(4.4, "4 s"), (59.4, "59 s"), (182, "3 min 02 s"), (3900, "1 h 05 min")],
)
def test_elapsed_time_is_short(seconds: float, shown: str) -> None:
    """Check that elapsed times read at a glance: seconds, then minutes, then hours."""
    from mle_challenge.pipeline.progress import format_elapsed

    assert format_elapsed(seconds) == shown


def test_a_stage_reports_each_step_with_its_elapsed_time() -> None:
    """Check that a step is one line with the run's and the stage's elapsed time, and Luigi's
    status message and percentage (kept when a step gives none, as model code's do)."""
    import io

    from mle_challenge.pipeline import progress

    now = [100.0]
    statuses: list[str] = []
    percents: list[int] = []
    out = io.StringIO()
    progress.begin_run(now=0.0)
    report = progress.StageReporter(
        "train hgb", statuses.append, percents.append, out=out, clock=lambda: now[0]
    )
    now[0] = 182.0
    report("fold 2 of 5 fitted")
    report("fitted", 100)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[3 min 02 s] train hgb: fold 2 of 5 fitted (1 min 22 s in this stage)"
    assert statuses == lines and percents == [100]


def test_a_luigi_stage_prints_and_sets_its_status(capsys: pytest.CaptureFixture[str]) -> None:
    """Check that a real stage's progress reaches stderr and Luigi's callbacks, named by its
    candidate, and that model code gets a plain callback only where it takes one."""
    from mle_challenge.pipeline import TrainCandidate
    from mle_challenge.pipeline.candidates import _reporting

    task = TrainCandidate(
        listings="l.csv", data_hash="h", split={}, candidate="hgb", spec={"kind": "x"}
    )
    seen: list[Any] = []
    task.set_status_message = seen.append  # Luigi's worker assigns these at run time
    task.set_progress_percentage = seen.append
    task.progress()("fold 1 of 5 fitted")
    assert "train hgb: fold 1 of 5 fitted" in capsys.readouterr().err
    assert len(seen) == 1 and "fold 1 of 5" in seen[0]

    def takes(X: Any, progress: Any = None) -> None: ...
    def older(X: Any) -> None: ...

    assert set(_reporting(takes, task)) == {"progress"} and _reporting(older, task) == {}


def test_a_second_run_on_the_same_outputs_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that `train` on an outputs folder another run is using waits for it, saying so in
    one line naming the folder, then runs (it met Luigi's FileAlreadyExists and left a
    temporary file)."""
    import subprocess
    import sys

    from mle_challenge.cli import main

    outputs = str(tmp_path / "outputs")
    released = tmp_path / "released"  # the holder writes it just before it lets the lock go
    holder = subprocess.Popen(  # another run: holds the lock for 2 s
        [sys.executable, "-c", "import pathlib, sys, time\nfrom mle_challenge.pipeline.lock "
         "import outputs_lock\nwith outputs_lock(sys.argv[1]):\n    print('held', flush=True)"
         "\n    time.sleep(2)\n    pathlib.Path(sys.argv[2]).touch()", outputs, str(released)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    code = main(["train", "--listings", str(tmp_path / "absent.csv"), "--outputs", outputs])
    ran_after_release = released.exists()  # it waited for the holder, not a timer
    holder.wait()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"another run is using {outputs} (pid {holder.pid}): waiting for it to finish"
    assert code == 2 and "absent.csv" in err[1]  # then it ran: the listings are not there
    assert ran_after_release
    assert not list((tmp_path / "outputs").rglob("*luigi-tmp*"))
