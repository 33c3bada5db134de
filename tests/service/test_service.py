"""The service in-process (its class) and over ASGI (BentoML's app, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from mle_challenge.model.schema import EXAMPLE_LISTING

pytestmark = pytest.mark.service


def _listings(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in rows.to_dict("records"):
        listing = {k: (None if pd.isna(v) else v) for k, v in record.items()}
        listing["id"] = int(listing["id"])
        listing["accommodates"] = int(listing["accommodates"])
        for flag in ("tv", "elevator", "internet"):
            listing[flag] = int(listing[flag])
        out.append(listing)
    return out


@pytest.fixture(scope="module")
def client(service_module: Any) -> Iterator[TestClient]:
    app = service_module.PriceClassifier.to_asgi()
    with TestClient(app, raise_server_exceptions=False) as test_client:  # runs the lifespan
        yield test_client


@pytest.fixture(scope="module")
def listings(registered: Any) -> list[dict[str, Any]]:
    return _listings(registered.rows.drop(columns="category").iloc[:40])


def test_in_process_service_class(service_module: Any, registered: Any) -> None:
    service = service_module.PriceClassifier()
    listing = service_module.Listing.model_validate(EXAMPLE_LISTING)
    answer = asyncio.run(service.classify(listing))
    assert answer.id == 1001
    assert answer.price_category in {"Low", "Mid", "High", "Lux"}
    assert answer.model == registered.tag
    assert list(answer.probabilities) == ["Low", "Mid", "High", "Lux"]
    assert abs(sum(answer.probabilities.values()) - 1) < 1e-4


def test_classify_over_asgi_matches_the_model(
    client: TestClient, listings: list[dict[str, Any]], registered: Any
) -> None:
    from mle_challenge.model.predictor import Predictor

    expected = Predictor.load(registered.tag).predict_records(listings).labels
    got = [client.post("/classify", json=x).json()["price_category"] for x in listings[:10]]
    assert got == expected[:10]
    batch = client.post("/classify_batch", json=listings)
    assert batch.status_code == 200
    assert [a["id"] for a in batch.json()] == [x["id"] for x in listings]
    assert [a["price_category"] for a in batch.json()] == expected


def test_the_challenge_example_answers_the_challenge_shape(client: TestClient) -> None:
    answer = client.post("/classify", json=EXAMPLE_LISTING)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == 1001 and body["price_category"] in {"Low", "Mid", "High", "Lux"}
    assert set(body) == {"id", "price_category", "probabilities", "model"}


def test_model_endpoint(client: TestClient, registered: Any) -> None:
    info = client.get("/model").json()
    assert info["tag"] == registered.tag
    assert info["data_fingerprint"] == "synthetic"
    assert 0.3 < info["metrics"]["accuracy"] <= 1 and info["created_at"]
    assert info["fast_path"] is True
    # The session's model answers by the tuned macro-F1 rule: its weights are on show.
    assert info["decision"]["alpha"] is not None
    assert set(info["decision"]["class_weights"]) == set(info["classes"])


def test_health(client: TestClient) -> None:
    # /metrics needs the Prometheus set-up `bentoml serve` makes: tested on the live server.
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (json.dumps(EXAMPLE_LISTING | {"tv": 7}), None, 400, "tv: must be true, false, 1 or 0"),
        (json.dumps(EXAMPLE_LISTING | {"neighbourhood": "Paris"}), None, 400, "neighbourhood"),
        (json.dumps(EXAMPLE_LISTING | {"extra": 1}), None, 400, "extra: Extra inputs"),
        ('{"id": 1,', None, 400, "Invalid JSON"),
        ("", None, 400, "body"),
        (json.dumps(EXAMPLE_LISTING), {"content-type": "text/csv"}, 415, "application/json"),
        (json.dumps(EXAMPLE_LISTING), {"content-type": "application/vnd.bentoml+pickle"}, 415, ""),
        (" " * 2_000_000, None, 413, "larger than"),
    ],
)
def test_invalid_requests_get_4xx_json(
    client: TestClient, body: str, headers: dict[str, str] | None, status: int, words: str
) -> None:
    answer = client.post(
        "/classify", content=body, headers=headers or {"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert "Traceback" not in answer.text and ".py" not in answer.text


def test_batch_errors_name_the_index(client: TestClient, listings: list[dict[str, Any]]) -> None:
    bad = [*listings[:3], listings[3] | {"latitude": 10.0}, listings[4] | {"room_type": None}]
    answer = client.post("/classify_batch", json=bad)
    assert answer.status_code == 400
    locs = [d["loc"] for d in answer.json()["detail"]]
    assert [3, "latitude"] in locs and [4, "room_type"] in locs
    assert "[3].latitude" in answer.json()["error"]


def test_batch_size_is_bounded(client: TestClient, service_module: Any) -> None:
    assert client.post("/classify_batch", json=[]).status_code == 400
    too_many = [EXAMPLE_LISTING] * (service_module.MAX_BATCH + 1)
    answer = client.post("/classify_batch", json=too_many)
    assert answer.status_code == 400
    assert "at most 1000 items" in answer.json()["error"]
