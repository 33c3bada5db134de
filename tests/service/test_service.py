"""The service in-process (its class) and over ASGI (BentoML's app, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from tests.support.airbnb import EXAMPLE_LISTING

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


def test_the_fast_path_runs_the_apis_own_code(
    client: TestClient, service_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that /classify, answered in the request guard (MLE_FAST_CLASSIFY, the default),
    runs the API's own method and the service's one answering function, not a copy."""
    calls: list[str] = []
    real = service_module.classify_listings

    def spy(log: Any, endpoint: str, listings: Any) -> Any:
        calls.append(endpoint)
        return real(log, endpoint, listings)

    monkeypatch.setattr(service_module, "classify_listings", spy)
    assert client.post("/classify", json=EXAMPLE_LISTING).status_code == 200
    assert client.post("/classify_batch", json=[EXAMPLE_LISTING]).status_code == 200
    assert calls == ["/classify", "/classify_batch"]


def test_the_published_document_has_one_schema_per_type(
    client: TestClient, service_module: Any
) -> None:
    """Check that /classify refers to the shared Listing and Classification as /classify_batch
    does (BentoML inlined ListingIODescriptor and ClassificationIODescriptor: a generated client
    got two classes for each), and that no "Servers: ." selector is published."""
    document = client.get("/docs.json").json()
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if "IODescriptor" in name]
    assert "servers" not in document

    def body(path: str) -> Any:
        return document["paths"][path]["post"]["requestBody"]["content"]["application/json"]

    def answer(path: str) -> Any:
        return document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]

    listing, classification = "#/components/schemas/Listing", "#/components/schemas/Classification"
    assert body("/classify")["schema"] == {"$ref": listing}
    assert body("/classify_batch")["schema"]["items"] == {"$ref": listing}
    assert answer("/classify")["schema"] == {"$ref": classification}
    assert answer("/classify_batch")["schema"]["items"] == {"$ref": classification}
    # the served model's own types: its categories as enums, its area as bounds
    assert "RoomType" in schemas and "minimum" in schemas["Listing"]["properties"]["latitude"]


def test_bentomls_clients_see_one_named_argument(client: TestClient) -> None:
    """Check /schema.json, which BentoML's HTTP clients read: each API takes its argument by
    name (or positionally, as first field) and /classify the listing's fields as keywords."""
    routes = {r["name"]: r["input"] for r in client.get("/schema.json").json()["routes"]}
    assert not routes["classify"].get("root_input")
    assert list(routes["classify"]["properties"])[:2] == ["listing", "id"]
    assert list(routes["classify_batch"]["properties"]) == ["listings"]
