"""A project inferred from a table: kinds, task, classes, id, the columns left out and why, and
the file written, which loads and round-trips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mle_challenge.errors import ConfigError
from mle_challenge.project import load_project
from mle_challenge.project.infer import Ignored, Inference, Inferred, infer_column, infer_project
from mle_challenge.project.render import project_yaml, summary_lines

pytestmark = pytest.mark.unit


def _sklearn_csv(loader: Any, tmp_path: Path) -> pd.DataFrame:
    """A scikit-learn table as a team's CSV: plain column names, an id, read back as text (as
    the pipeline reads a CSV)."""
    frame = loader(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_").replace("/", "_") for c in frame.columns]
    frame.insert(0, "id", range(1000, 1000 + len(frame)))
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _infer(frame: pd.DataFrame, **given: Any) -> Inference:
    options: dict[str, Any] = {"target": "target", "sources": {"data": "t.csv"}, "name": "t"}
    return infer_project(frame, **(options | given))


def _round_trip(inference: Inference, tmp_path: Path) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(project_yaml(inference, "# test"))
    assert load_project(path) == inference.project


def test_breast_cancer_is_binary_classification_of_numbers(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    inference = _infer(_sklearn_csv(load_breast_cancer, tmp_path))
    project = inference.project
    assert (project.task, project.target.classes) == ("classification", ("0", "1"))
    assert project.id == "id"
    assert len(project.fields) == 30
    assert set(project.of_kind("number")) == set(project.fields)
    assert [i.name for i in inference.ignored] == ["id"]
    _round_trip(inference, tmp_path)
    typed = load_breast_cancer(as_frame=True).frame  # a prepared (typed) table: the same project
    typed.columns = [str(c).replace(" ", "_") for c in typed.columns]
    typed.insert(0, "id", range(1000, 1000 + len(typed)))
    assert _infer(typed).project == project


def test_wine_is_multiclass_with_counts(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    inference = _infer(_sklearn_csv(load_wine, tmp_path))
    assert inference.project.target.classes == ("0", "1", "2")
    assert inference.project.of_kind("count") == ("magnesium", "proline")
    assert "3 distinct whole numbers" in inference.task_reason
    _round_trip(inference, tmp_path)
    forced = _infer(_sklearn_csv(load_wine, tmp_path), task="regression")
    assert forced.task_reason == "given by --task" and forced.project.task == "regression"


def test_diabetes_is_regression(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    inference = _infer(_sklearn_csv(load_diabetes, tmp_path))
    target = inference.project.target
    assert (target.task, target.column, target.classes) == ("regression", "target", None)
    assert "distinct numbers" in inference.task_reason
    _round_trip(inference, tmp_path)
    with pytest.raises(ConfigError, match=r"214 classes are too many.*--task regression"):
        _infer(_sklearn_csv(load_diabetes, tmp_path), task="classification")


def _synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "country": ["NL"] * n,
            "notes": [" ".join(rng.choice(words, 8)) + f" no. {i}" for i in range(n)],
            "listed": [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
            "empty": [""] * n,
            "fee": [f"${1000 + i:,}.00" for i in range(n)],
            "rooms": [str(1 + i % 5) for i in range(n)],
            "area": [f"{30 + 0.5 * i:.1f}" for i in range(n)],
            "garden": [str(i % 2) for i in range(n)],
            "kind": [["flat", "house", "loft"][i % 3] for i in range(n)],
            "lat": [f"{52.3 + i / 1000:.4f}" for i in range(n)],
            "lng": [f"{4.9 + i / 1000:.4f}" for i in range(n)],
            "rent": ["" if i % 3 == 0 else str(500 + 10 * i) for i in range(n)],
            "band": [["low", "high"][i % 2] if i % 10 else "" for i in range(n)],
        }
    )


def test_each_kind_and_each_column_left_out_with_its_reason(tmp_path: Path) -> None:
    inference = _infer(_synthetic(), target="band")
    kinds = {f.name: f.spec.kind for f in inference.fields}
    assert kinds == {
        "rooms": "count",
        "area": "number",
        "garden": "flag",
        "kind": "category",
        "lat": "latitude",
        "lng": "longitude",
        "rent": "count",
    }
    assert inference.project.fields["rent"].nullable
    assert not inference.project.fields["rooms"].nullable
    reasons = {i.name: i.reason for i in inference.ignored}
    assert reasons["id"].startswith("the id")
    assert reasons["country"] == "constant: every value is NL"
    assert reasons["notes"].startswith("free text: 120 distinct values")
    assert reasons["listed"].startswith("dates:")
    assert reasons["empty"] == "every value is empty"
    assert reasons["fee"].startswith("numbers written as text (such as '$1,000.00')")
    assert inference.project.target.classes == ("high", "low")
    assert inference.rows_without_target == 12
    lines = summary_lines(inference)
    assert "task: classification: 'band' holds text (2 distinct labels)" in lines
    assert "classes: high, low" in lines
    assert any(line.split() == ["kind", "category", "seen", "3", "levels:", "flat,", "house,",
                                "loft"] for line in lines)  # fmt: skip
    assert "  country: constant: every value is NL" in lines
    assert "ignored rows: 12 with no band (nothing to learn from them)" in lines
    _round_trip(inference, tmp_path)


def test_a_column_name_that_cannot_be_a_field_is_left_out_with_the_fix() -> None:
    found = infer_column("mean radius", pd.Series(["1.5", "2.5"]))
    assert isinstance(found, Ignored) and "rename it" in found.reason
    assert isinstance(infer_column("x", pd.Series([1.5, np.nan, 2.0])), Inferred)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"target": "price"}, "target column 'price' is not in the data: its columns are id,"),
        ({"target": "country"}, "has one value (NL) in every row: there is nothing to learn"),
        ({"target": "kind", "task": "regression"}, "--task regression needs a numeric target"),
        ({"target": "band", "task": "ranking"}, "unknown task 'ranking'"),
        ({"target": "fee"}, "holds numbers written as text (such as '$1,000.00'): parse them"),
        ({"target": "band", "id_column": "kind"}, "id column 'kind' repeats values"),
        ({"target": "band", "id_column": "nope"}, "--id 'nope' is not a column"),
    ],
)
def test_bad_input_is_one_error_naming_the_fix(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _infer(_synthetic(), **given)


def test_no_id_column_is_never_made_up() -> None:
    """Check that a table without an `id` is refused, naming --id and the unique candidates,
    rather than numbered by row (a row number means another row in the next file)."""
    frame = _synthetic().drop(columns=["id"]).assign(code=range(120))
    with pytest.raises(ConfigError, match=r"no id column.*--id COLUMN.*unique whole-number "
                                          r"columns: code"):  # fmt: skip
        _infer(frame, target="band")
    assert _infer(frame, target="band", id_column="code").project.id == "code"
