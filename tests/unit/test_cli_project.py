"""``mle-challenge init`` writes a project that loads, and ``--project`` (or MLE_PROJECT) reaches
every command: its model name, its declaration, its stage sections. No training: a store of
each test's own, with a dummy five-tree model where one is needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest

from mle_challenge.cli import main
from mle_challenge.project import load_project, stage_params

pytestmark = pytest.mark.unit


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A BentoML home of this test's own (the store and our state beside it)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    with (
        BentoMLContainer.bentoml_home.patch(str(tmp_path / "home")),
        BentoMLContainer.model_store.patch(ModelStore(tmp_path / "home" / "models")),
    ):
        yield tmp_path / "home"


@pytest.fixture
def project_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A project written by `init` from a small table of its own (model name `houses`)."""
    frame = pd.DataFrame(
        {
            "id": range(60),
            "rooms": [1 + i % 4 for i in range(60)],
            "garden": [i % 2 for i in range(60)],
            "town": [["Delft", "Leiden", "Gouda"][i % 3] for i in range(60)],
            "seller": ["ACME"] * 60,
            "band": [["cheap", "dear"][i % 2] for i in range(60)],
        }
    )
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "houses.csv", index=False)
    output = tmp_path / "project" / "houses.yaml"
    code = main(["init", "--data", str(tmp_path / "data" / "houses.csv"), "--target", "band",
                 "--output", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    return output


def test_init_writes_a_project_that_loads_and_prints_what_it_inferred(
    project_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = capsys.readouterr().out.splitlines()
    project = load_project(project_file)
    assert (project.name, project.serving.model_name, project.id) == ("houses", "houses", "id")
    assert project.sources[0].url == "../data/houses.csv"  # relative to the file's folder
    assert project.target.classes == ("cheap", "dear")
    assert {"task: classification: 'band' holds text (2 distinct labels)", "classes: cheap, dear",
            "  seller: constant: every value is ACME"} <= set(out)  # fmt: skip
    fields = out[out.index("fields (3):") + 1 : out.index("ignored columns (2):")]
    assert [line.split()[:2] for line in fields] == [
        ["rooms", "count"],
        ["garden", "flag"],
        ["town", "category"],
    ]
    assert out[-1].startswith(f"wrote {project_file}")
    text = project_file.read_text()
    assert "# The id column: echoed in every answer, never a feature.\nid: id\n" in text


def test_init_refuses_bad_input_in_one_line(
    project_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    data = str(tmp_path / "data" / "houses.csv")
    cases = [
        (["--target", "price"], "target column 'price' is not in the data"),
        (["--target", "seller"], "has one value (ACME) in every row"),
        (["--target", "town", "--task", "regression"], "needs a numeric target"),
        (["--target", "band", "--id", "town"], "id column 'town' repeats values"),
    ]
    for extra, message in cases:
        out = str(tmp_path / "again.yaml")
        assert main(["init", "--data", data, *extra, "--output", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert main(["init", "--data", data, "--target", "band", "--output", str(project_file)]) == 2
    assert "exists: choose another --output, or add --force" in capsys.readouterr().err


def test_init_runs_the_teams_prepare_on_named_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check --data NAME=PATH twice with --prepare module:function, imported from the current
    folder: the project is inferred from the function's table, and names it."""
    pd.DataFrame({"id": range(40), "size": [10.5 + i for i in range(40)]}).to_csv(
        tmp_path / "a.csv", index=False
    )
    pd.DataFrame({"id": range(40), "label": ["x", "y"] * 20}).to_csv(
        tmp_path / "b.csv", index=False
    )
    (tmp_path / "team_prep.py").write_text(
        "def prepare(sources):\n    return sources['a'].merge(sources['b'], on='id')\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(["init", "--data", "a=a.csv", "--data", "b=b.csv", "--prepare",
                 "team_prep:prepare", "--target", "label", "--output", "p.yaml"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    project = load_project(tmp_path / "p.yaml")
    assert project.prepare == "team_prep:prepare"
    assert [s.name for s in project.sources] == ["a", "b"]
    assert project.of_kind("number") == ("size",)


@pytest.fixture(scope="module")
def fitted() -> Any:
    """The notebook's forest, five trees on 300 synthetic listings: a model to register."""
    from mle_challenge.data.clean import clean_listings
    from mle_challenge.data.synthetic import generate_listings
    from mle_challenge.model.features import to_model_input
    from mle_challenge.model.train import fit_candidate

    table = clean_listings(generate_listings(300, seed=1).astype(str).replace("", None)).table
    spec = {"kind": "baseline_random_forest", "params": {"n_estimators": 5, "random_state": 0}}
    return fit_candidate(spec, to_model_input(table), table["category"])


def test_sources_are_named_and_written_relative_to_the_file(tmp_path: Path) -> None:
    from mle_challenge.cli.projects import parse_data, written_url

    assert parse_data(("d/houses.csv",)) == {"data": "d/houses.csv"}
    assert parse_data(("a=x.csv", "s3://b/k=v/y.csv")) == {"a": "x.csv", "y": "s3://b/k=v/y.csv"}
    with pytest.raises(click.BadParameter, match="two sources are named 'x'"):
        parse_data(("x=a.csv", "x=b.csv"))
    assert written_url("https://h/x.csv", tmp_path) == "https://h/x.csv"
    assert written_url(str(tmp_path / "d" / "x.csv"), tmp_path / "p") == "../d/x.csv"


def _register(model: Any, name: str) -> str:
    from mle_challenge.lifecycle import registry

    scores = {"accuracy": 0.5, "macro_f1": 0.5, "roc_auc_ovr": 0.5}
    return registry.register_model(
        model, fingerprint=f"f-{name}", candidate="dummy",
        metrics={"test": {**scores, "rows": 20}, "validation": scores}, params={},
        data_fingerprint="d", report_path="none", name=name,
    )  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_project_selects_the_model_name_of_each_command(
    home: Path, project_file: Path, fitted: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    p = str(project_file)
    assert _run(capsys, "models", "list", "--project", p)[1] == (
        "no registered models named houses: train one with `make run`\n"
    )
    assert "of houses yet" in _run(capsys, "models", "history", "--project", p)[1]
    code, _, err = _run(capsys, "rollback", "--project", p)
    assert code == 2 and "houses" in err, err
    code, _, err = _run(capsys, "predict", "--input", "x.csv", "--output", "y.csv", "--project", p)
    assert code == 2 and "no production model of houses" in err, err
    other = _register(fitted, "price_classifier")
    for command in (["promote", other], ["gate", other, "--held-out", "x.csv"]):
        code, _, err = _run(capsys, *command, "--project", p)
        assert code == 2, err
        assert f"{other} is a model of price_classifier, not of the project {p}" in err, err
    code, _, err = _run(capsys, "bento", "build", "--model", other, "--project", p)
    assert code == 2 and "is a model of price_classifier, not of --model-name houses" in err


def test_mle_project_is_the_default_project(
    home: Path, project_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    capsys.readouterr()
    monkeypatch.setenv("MLE_PROJECT", str(project_file))
    assert "named houses" in _run(capsys, "models", "list")[1]
    monkeypatch.setenv("MLE_PROJECT", str(project_file.with_name("nope.yaml")))
    code, _, err = _run(capsys, "models", "list")
    assert code == 2 and "project file not found" in err and "mle-challenge init" in err


def test_models_list_without_a_project_lists_every_name(
    home: Path, fitted: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tags = [_register(fitted, "houses"), _register(fitted, "price_classifier")]
    from mle_challenge.lifecycle import production

    production.promote(tags[0], force=True, reason="test")
    code, out, err = _run(capsys, "models", "list")
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == set(tags)
    assert rows[tags[0]].rstrip().endswith("production")
    assert not rows[tags[1]].rstrip().endswith("production")


def test_a_project_s_sections_are_its_parameters(project_file: Path, tmp_path: Path) -> None:
    """Check what gate, monitor and schedule read: the project's sections, each replaced by a
    --params file's when one is given, never by ./params.yaml."""
    params, origin = stage_params(str(project_file), None)
    assert params.registry.model_name == "houses"
    assert origin == f"project: {project_file} (--project)"
    override = tmp_path / "override.yaml"
    override.write_text(
        "train: {candidates: {rf: {kind: random_forest}}}\nmonitor: {min_rows: 7}\n"
    )
    params, origin = stage_params(str(project_file), str(override))
    assert (params.monitor.min_rows, params.registry.model_name) == (7, "houses")
    assert params.split == load_project(project_file).split  # a section it does not give
    assert origin.endswith(f"; parameters: {override} (--params)")


def test_schedule_passes_the_project_to_every_run(project_file: Path, tmp_path: Path) -> None:
    from mle_challenge.schedule import Options
    from mle_challenge.schedule.metrics import ScheduleMetrics
    from mle_challenge.schedule.runner import Runner

    options = Options("l.csv", None, tmp_path, "houses", "once", project=str(project_file))
    command = Runner(options, ScheduleMetrics()).train_command(tmp_path / "s.json")
    assert command[command.index("--project") + 1] == str(project_file)
    assert "--params" not in command
    assert command[command.index("--model-name") + 1] == "houses"
    assert options.folder == tmp_path / "schedule" / "houses"  # its own lock and runs
    assert Options("l.csv", "p.yaml", tmp_path, "m", "once").folder == tmp_path / "schedule"
