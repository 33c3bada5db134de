"""Another city than New York, end to end, as a new user would take it: synthetic Boston
listings in Boston's own layout (the 74-column file, an empty borough column) and geography,
trained with the project's parameters, promoted through the gate, built into a bento, served
and used for batch predictions. Everything city-specific comes from the training rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import requests

from mle_challenge.data.clean import clean_listings
from mle_challenge.data.synthetic import generate_listings
from tests.conftest import serve_from_source
from tests.e2e.conftest import Cli
from tests.support.airbnb import EXAMPLE_LISTING
from tests.support.processes import stop

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOSTON = "price_classifier_boston"


def test_boston_trains_passes_its_gate_serves_its_listings_and_refuses_new_york(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path)  # the project's params.yaml: NYC's price edges, the full candidates
    listings = tmp_path / "boston.csv.gz"
    raw = generate_listings(4000, 3, city="boston", layout="74")
    raw.to_csv(listings, index=False)

    out = cli("train", "--listings", str(listings), "--params", str(cli.params),
              "--outputs", str(cli.outputs), "--promote", "--model-name", BOSTON)  # fmt: skip
    tag = next(line for line in out.splitlines() if line.startswith("registered: ")).split()[1]
    assert tag.startswith(f"{BOSTON}:")
    assert cli.production(BOSTON) == tag, out  # the gate passed: its cases come from Boston
    assert "FAIL" not in out

    built = cli("bento", "build", "--model-name", BOSTON).strip().splitlines()
    bento = next(line for line in built if line.startswith(f"{BOSTON}_service:"))
    process, url = serve_from_source(cli.env, tmp_path / "serve", service=bento)
    try:
        model = requests.get(f"{url}/model", timeout=10).json()
        city = model["city"]
        assert model["tag"] == tag
        assert city["neighbourhood_column"] == "neighbourhood_cleansed"
        assert city["price_edges"] == [90.0, 180.0, 400.0]
        low, high = city["area"]["latitude"]
        assert 42.0 < low < high < 42.6, city["area"]  # Boston's, not New York's

        # Its own example (a real training listing) and held-out Boston listings answer 200.
        example = city["example"]
        answer = requests.post(f"{url}/classify", json=example, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == example["id"]
        docs = requests.get(f"{url}/docs.json", timeout=10).json()
        body = docs["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]
        assert body["example"] == example
        rows = _api_rows(generate_listings(200, 11, city="boston", layout="74"))
        answers = requests.post(f"{url}/classify_batch", json=rows, timeout=30)
        assert answers.status_code == 200, answers.text[:500]
        assert len(answers.json()) == len(rows)

        # A New York listing, in a neighbourhood Boston has, is refused, naming why.
        nyc = example | {k: EXAMPLE_LISTING[k] for k in ("latitude", "longitude")}
        refused = requests.post(f"{url}/classify", json=nyc, timeout=10)
        assert refused.status_code == 400
        assert "outside the area the model was trained on" in refused.json()["error"]
    finally:
        stop(process)

    # Batch prediction of the raw Boston file predicts every row cleaning keeps.
    output = tmp_path / "predictions.csv"
    cli("predict", "--input", str(listings), "--output", str(output), "--model-name", BOSTON)
    kept = clean_listings(raw.astype(str).replace("", None), labelled=False).table
    predicted = pd.read_csv(output)
    assert len(predicted) == len(kept) and set(predicted["model"]) == {tag}


def _api_rows(raw: pd.DataFrame) -> list[dict[str, object]]:
    from mle_challenge.model.features import to_model_input

    clean = clean_listings(raw.astype(str).replace("", None)).table
    frame = to_model_input(clean).assign(id=clean["id"].to_numpy())
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [
        {k: v for k, v in r.items() if v is not None or k in ("beds", "bedrooms")} for r in records
    ]
