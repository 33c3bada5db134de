"""Batch prediction (the command and the Luigi task) and the client against a live service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mle_challenge.lifecycle.registry import model_contract

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=300,
    )


def test_raw_listings_in_chunks_with_rejects(registered: Any, tmp_path: Path) -> None:
    from mle_challenge.data.synthetic import generate_listings
    from mle_challenge.model.predictor import Predictor

    raw = generate_listings(2500, seed=21).astype(object)
    raw.loc[3, "latitude"] = 40721.0  # the real sample's broken row
    raw.loc[5, "room_type"] = None
    raw.loc[7, "bedrooms"] = None  # missing counts are predicted, not refused
    raw.loc[9, "latitude"] = 51.5  # a valid place, outside NYC: refused by the API's rules
    raw = raw.drop(columns="price")  # listings to predict need no price
    source = tmp_path / "listings.csv.gz"
    text = raw.to_csv(index=False).splitlines()
    # Two lines with the wrong number of fields, one early and one last: reported, not lost.
    text.insert(1500, "123,too,few")
    text.append(text[-1] + ",extra")
    import gzip

    source.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    out = tmp_path / "predictions.parquet"
    done = _cli(
        "predict",
        "--input",
        str(source),
        "--output",
        str(out),
        "--model",
        registered.tag,
        "--chunk-rows",
        "1000",
    )
    assert done.returncode == 0, done.stderr
    assert "rows read: 2,502; predicted: 2,497; rejected: 5" in done.stdout, done.stdout
    assert "latitude out of range" in done.stdout and "missing room_type" in done.stdout
    predictions = pd.read_parquet(out)
    assert list(predictions.columns) == [
        "id",
        "price_category",
        "p_Low",
        "p_Mid",
        "p_High",
        "p_Lux",
        "model",
    ]
    assert len(predictions) == 2497 and predictions["id"].is_unique
    assert set(predictions["model"]) == {registered.tag}
    rejects = pd.read_csv(tmp_path / "predictions.rejects.csv", dtype=str)
    area = model_contract(registered.tag).area  # learned from the synthetic training listings
    assert sorted(rejects["reason"]) == [
        "latitude out of range [-90, 90]",
        f"latitude outside the model's training area [{area.latitude[0]}, {area.latitude[1]}]",
        "malformed CSV row: 13 fields where the header has 12",
        "malformed CSV row: 3 fields where the header has 12",
        "missing room_type",
    ]
    # Rejects keep the input's own columns (refused rows as given), plus reason and raw_line.
    assert list(rejects.columns) == [*raw.columns, "reason", "raw_line"]
    outside = rejects[rejects["reason"].str.startswith("latitude outside")].iloc[0]
    assert outside["id"] == str(raw.loc[9, "id"])
    assert outside["amenities"] == raw.loc[9, "amenities"]
    assert set(rejects["raw_line"].dropna()) == {"123,too,few", text[-1]}
    # Same answers as the model's own predict on the same rows.
    from mle_challenge.data.clean import clean_listings
    from mle_challenge.data.sources import read_csv_strings
    from mle_challenge.model.features import to_model_input

    given = tmp_path / "given.csv"
    raw.drop(index=9).to_csv(given, index=False)
    clean = clean_listings(read_csv_strings(str(given)), labelled=False).table
    expected = Predictor.load(registered.tag).pipeline.predict(to_model_input(clean))
    assert list(predictions["price_category"]) == list(expected)


def test_api_rows_csv_and_luigi_task(registered: Any, tmp_path: Path) -> None:
    rows = registered.rows.drop(columns="category").copy()
    rows.loc[rows.index[0], "neighbourhood"] = "Atlantis"
    rows.loc[rows.index[1], "tv"] = 7
    rows.loc[rows.index[2], "latitude"] = 51.5
    source = tmp_path / "api.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "luigi"),
            "--module",
            "mle_challenge.pipeline",
            "BatchPredict",
            "--input",
            str(source),
            "--output-path",
            str(out),
            "--model",
            registered.tag,
            "--local-scheduler",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    predictions = pd.read_csv(out)
    assert len(predictions) == len(rows) - 3
    reasons = set(pd.read_csv(tmp_path / "out.rejects.csv")["reason"])
    assert any(r.startswith("neighbourhood not one of") for r in reasons)
    assert "tv is not true, false, 1 or 0" in reasons
    assert any(r.startswith("latitude outside the model's training area") for r in reasons)


def test_missing_columns_and_model_are_clear_errors(registered: Any, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1], "room_type": ["Private room"]}).to_csv(source, index=False)

    def predict(model: str) -> subprocess.CompletedProcess[str]:
        out = str(tmp_path / "o.csv")
        return _cli("predict", "--input", str(source), "--output", out, "--model", model)

    done = predict(registered.tag)
    assert done.returncode == 2 and "missing column(s)" in done.stderr
    assert not (tmp_path / "o.csv").exists()
    absent = predict("price_classifier:doesnotexist")
    assert absent.returncode == 2 and "no model price_classifier:doesnotexist" in absent.stderr


def test_client_and_classify_command(live_service: str, registered: Any, tmp_path: Path) -> None:
    from mle_challenge.serving.client import ClientError, PriceClient

    client = PriceClient(live_service, timeout=5, retries=1)
    assert client.ready() and client.model()["tag"] == registered.tag
    listings = registered.rows.drop(columns="category").head(30)
    records = [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
        for r in listings.to_dict("records")
    ]
    answers = PriceClient(live_service, batch_size=7).classify_batch(records)
    assert [a["id"] for a in answers] == [r["id"] for r in records]
    with pytest.raises(ClientError, match=r"400.*latitude"):
        client.classify(records[0] | {"latitude": 0.0})
    with pytest.raises(ClientError, match="cannot reach"):
        PriceClient("http://127.0.0.1:9", timeout=1, retries=0).model()

    api = tmp_path / "rows.parquet"
    listings.to_parquet(api, index=False)
    done = _cli("classify", "--url", live_service, "--listings", str(api), "--sample", "5")
    assert done.returncode == 0, done.stderr
    assert f"5 listings classified by {registered.tag}" in done.stdout
    down = _cli("classify", "--url", "http://127.0.0.1:9", "--input", str(api), "--retries", "0")
    assert down.returncode == 2 and "cannot reach" in down.stderr


def test_gzip_csv_output_is_compressed(registered: Any, tmp_path: Path) -> None:
    """Check a .csv.gz output is gzip (its ".partial" name while writing must not decide)."""
    from mle_challenge.batch.predict import predict_file

    source = tmp_path / "api.csv"
    registered.rows.drop(columns="category").head(50).to_csv(source, index=False)
    out = tmp_path / "out.csv.gz"
    report = predict_file(str(source), str(out), registered.tag)
    assert report.rows_predicted == 50 and report.seconds > 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert len(pd.read_csv(out)) == 50


@pytest.mark.parametrize("kind", ["raw", "api"])
def test_odd_ids_are_rejects_with_a_reason(kind: str, registered: Any, tmp_path: Path) -> None:
    """Check that an empty id and one past int64 are rejects with their reason, raw listings
    or API rows (they ended in IntCastingNaNError and TypeError tracebacks), and that the
    summary lists the categories in class order (it was alphabetical)."""
    from mle_challenge.data.synthetic import generate_listings

    if kind == "raw":
        rows = generate_listings(60, seed=5).drop(columns="price").astype(object)
    else:
        rows = registered.rows.drop(columns="category").head(60).astype(object)
    rows.loc[rows.index[1], "id"] = None
    rows.loc[rows.index[2], "id"] = "99999999999999999999999"
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows.to_csv(source, index=False)
    done = _cli("predict", "--input", str(source), "--output", str(out), "--model", registered.tag)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    rejects = pd.read_csv(tmp_path / "out.rejects.csv", dtype=str)
    reasons = dict(zip(rejects["id"].fillna(""), rejects["reason"], strict=True))
    if kind == "raw":
        assert reasons == {"": "missing id", "99999999999999999999999": "unparseable id"}
    else:
        assert reasons == {"": "missing id", "99999999999999999999999": "id is not a whole number"}
    assert len(pd.read_csv(out)) == 58
    shown = done.stdout.split("predicted categories: ")[1].splitlines()[0]
    names = [part.split()[0] for part in shown.split(", ")]
    assert names == [c for c in ("Low", "Mid", "High", "Lux") if c in names], shown
    assert len(names) >= 2, shown
