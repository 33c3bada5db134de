"""Monitoring on the real NYC data: the test rows replayed through the service, then joined
with the file's prices, give the realized figures that the offline evaluation gave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.serving.client import PriceClient
from tests.conftest import NycTrained, serve_from_source

pytestmark = [pytest.mark.model, pytest.mark.data, pytest.mark.e2e, pytest.mark.slow]


def _held_out(trained: NycTrained) -> pd.DataFrame:
    name, version = trained.record["tag"].split(":")
    card = trained.home / "mle_challenge" / "cards" / name / f"{version}.json"
    return pd.read_parquet(json.loads(card.read_text())["held_out"])


def _requests(rows: pd.DataFrame) -> list[dict[str, object]]:
    listings = rows.drop(columns=["category"]).astype(object)
    return [
        {k: (None if pd.isna(v) else v) for k, v in record.items()}
        for record in listings.where(listings.notna(), None).to_dict("records")
    ]


def test_replayed_test_rows_realize_the_offline_figures(
    nyc_trained: NycTrained, nyc_dir: Path, tmp_path: Path
) -> None:
    """Check that serving the 4,774 test rows and monitoring them against the NYC file's own
    prices gives exactly the test accuracy, macro-F1 and confusion matrix, with every
    prediction joined and no drift alarm (the rows come from the training distribution)."""
    tag, log = nyc_trained.record["tag"], f"sqlite:///{tmp_path / 'log.sqlite'}"
    env = {
        **os.environ,
        "BENTOML_HOME": str(nyc_trained.home),
        "MLE_MODEL_TAG": tag,
        "MLE_PREDICTION_LOG": log,
    }
    rows = _held_out(nyc_trained)
    process, url = serve_from_source(env, tmp_path / "serve", workers=2)
    answers = PriceClient(url, timeout=60).classify_batch(_requests(rows))
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert len(answers) == len(rows)

    report = tmp_path / "report"
    monitor = [sys.executable, "-m", "mle_challenge.cli", "monitor", "--report", str(report)]
    monitor += ["--log", log, "--since", "1h", "--scraped-at", "now"]
    monitor += ["--actuals", str(nyc_dir / "listings_reconstructed.csv.gz")]
    done = subprocess.run(monitor, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((report / "summary.json").read_text())
    realized = summary["realized"]
    assert realized["joined"] == len(rows) and realized["not_joined"] == {}
    figures, test = realized["by_model"][tag], nyc_trained.record["metrics"]["test"]
    assert figures["accuracy"] == pytest.approx(test["accuracy"], abs=1e-12)
    assert figures["macro_f1"] == pytest.approx(test["macro_f1"], abs=1e-12)
    assert figures["confusion_matrix"] == test["confusion_matrix"]
    drift = summary["drift"][tag]
    assert not drift["alarm"] and drift["prediction_mix"]["psi"] < 1e-9
