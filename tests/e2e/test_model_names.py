"""Two cities in one store, end to end through the CLI: ``price_classifier`` (NYC) and
``price_classifier_boston`` are trained, promoted, rolled back and used for batch predictions
side by side, each with its own production alias and history."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.data.synthetic import generate_listings
from tests.e2e.conftest import Cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NYC, BOSTON = "price_classifier", "price_classifier_boston"
PARAMS = {
    "train": {
        "candidates": {"hist_gb": {"kind": "hist_gradient_boosting", "params": {"max_iter": 30}}}
    },
    # A small model on 1,500 rows: this test is about names, not about the gate.
    "gate": {
        "min_accuracy": 0.3,
        "min_macro_f1": 0.2,
        "min_roc_auc_ovr": 0.5,
        "max_regression": 1.0,
        "directional_min_share": 0.0,
    },
}


def test_two_cities_live_side_by_side(tmp_path: Path) -> None:
    cli = Cli(tmp_path, PARAMS)
    month0, month1 = tmp_path / "month0.csv", tmp_path / "month1.csv"
    generate_listings(1500, 0).to_csv(month0, index=False)
    generate_listings(1500, 0, month=1, shift=0.3).to_csv(month1, index=False)

    # A bad name is refused with the rule, before any work.
    refused = cli("train", "--listings", str(month0), "--model-name", "Boston", code=2)
    assert "lowercase letters, digits" in refused

    # NYC under the default name while Boston's later month trains (two cores, two files);
    # then Boston under its own name from NYC's very file: a model of its own.
    with ThreadPoolExecutor(2) as pool:
        nyc_run = pool.submit(cli.train, month0, "--promote")
        boston2 = cli.train(month1, "--model-name", BOSTON)
        nyc = nyc_run.result()
    boston1 = cli.train(month0, "--promote", "--model-name", BOSTON)
    assert nyc.startswith(f"{NYC}:") and boston1.startswith(f"{BOSTON}:")
    assert boston2.startswith(f"{BOSTON}:") and boston2 != boston1

    # Promoting a Boston tag moves Boston's alias, not NYC's.
    assert f"production: {boston2}" in cli("promote", boston2, "--reason", "month 1")
    assert cli.production(BOSTON) == boston2 and cli.production(NYC) == nyc
    assert cli.history(BOSTON) == [("promote", boston1), ("promote", boston2)]
    assert cli.history(NYC) == [("promote", nyc)]

    # Rolling Boston back leaves NYC alone; NYC has nothing to roll back to.
    assert f"production: {boston1}" in cli("rollback", "--model-name", BOSTON)
    assert cli.production(BOSTON) == boston1 and cli.production(NYC) == nyc
    assert "price_classifier has no earlier" in cli("rollback", code=2)
    assert cli.history(BOSTON)[-1] == ("rollback", boston1)
    assert len(cli.history(NYC)) == 1
    listed = cli("models", "list", "--model-name", BOSTON).splitlines()
    marked = {line.split()[0]: line.endswith("production") for line in listed[1:]}
    assert marked == {boston1: True, boston2: False}  # Boston's models only
    history = cli("models", "history", "--model-name", BOSTON).splitlines()
    assert [line.split()[1] for line in history] == ["promote", "promote", "rollback"]

    # Batch predictions use the named city's production model.
    for name, expected in ((BOSTON, boston1), (NYC, nyc)):
        output = tmp_path / f"{name}.csv"
        cli("predict", "--input", str(month1), "--output", str(output), "--model-name", name)
        assert set(pd.read_csv(output)["model"]) == {expected}
    mixed = cli("predict", "--input", str(month1), "--output", str(tmp_path / "x.csv"),
                "--model", nyc, "--model-name", BOSTON, code=2)  # fmt: skip
    assert f"is a model of {NYC}, not of --model-name {BOSTON}" in mixed

    # A bento serves one city's model: the named production, whatever is set in the shell.
    cli.env["MLE_MODEL_NAME"] = NYC
    out = cli("bento", "build", "--model-name", BOSTON).splitlines()
    built = next(line for line in out if line.startswith(f"{BOSTON}_service:"))
    assert _bento_model(cli.home, built) == boston1


def _bento_model(home: Path, bento_tag: str) -> str:
    """The one model recorded in a built bento's manifest, as the service reads it."""
    from mle_challenge.serving.runtime import bento_manifest_model

    name, version = bento_tag.split(":")
    pinned = bento_manifest_model(home / "bentos" / name / version / "src" / "mle_challenge")
    assert pinned is not None and pinned.content_hash, bento_tag
    return pinned.tag
