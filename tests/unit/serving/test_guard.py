"""The request guard: what reaches BentoML, and the plain-worded 4xx answers for what does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mle_challenge.model.city import NYC_AREA
from mle_challenge.model.schema import listing_model
from mle_challenge.serving.guard import RequestGuard
from tests.support.airbnb import EXAMPLE_LISTING

pytestmark = pytest.mark.unit

Listing = listing_model(
    {"room_type": ["Entire home/apt", "Private room"], "neighbourhood": ["Brooklyn", "Queens"]},
    NYC_AREA,
)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(await request.body())})


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/classify", _echo, methods=["POST"])])
    guarded = RequestGuard(app, schemas={"/classify": TypeAdapter(Listing)}, max_bytes=2048)
    return TestClient(guarded)


def test_valid_requests_pass_through_unchanged(client: TestClient) -> None:
    body = json.dumps(EXAMPLE_LISTING)
    answer = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200
    assert answer.json() == {"received": len(body)}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_other_content_types_get_415(client: TestClient, content_type: str) -> None:
    answer = client.post(
        "/classify", content=json.dumps(EXAMPLE_LISTING), headers={"content-type": content_type}
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]


def test_oversized_bodies_get_413_with_or_without_a_length(client: TestClient) -> None:
    big = b"[" + b" " * 5000 + b"]"
    headers = {"content-type": "application/json"}
    assert client.post("/classify", content=big, headers=headers).status_code == 413

    def chunks() -> Any:
        yield from (big[i : i + 100] for i in range(0, len(big), 100))

    streamed = client.post("/classify", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert "larger than 2048 bytes" in streamed.json()["error"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("{not json", "body: Invalid JSON"),
        ("", "body: Input should be an object"),
        (json.dumps(EXAMPLE_LISTING | {"latitude": 52.5}), "latitude: 52.5 is outside the area"),
        (json.dumps(EXAMPLE_LISTING | {"neighbourhood": "Bronx"}), "neighbourhood: Input should"),
    ],
)
def test_invalid_bodies_get_400_naming_the_field(client: TestClient, body: str, where: str) -> None:
    answer = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    payload = answer.json()
    assert where in payload["error"]
    assert (
        "Traceback" not in answer.text and "/work" not in answer.text and ".py" not in answer.text
    )


def test_other_paths_and_methods_are_not_touched(client: TestClient) -> None:
    assert client.get("/classify").status_code == 405  # the app's own answer


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"latitude": 52.5, ' + json.dumps(EXAMPLE_LISTING)[1:], "latitude"),
        ('{"id": 1, "id": 2, ' + json.dumps(EXAMPLE_LISTING)[1:], "id"),
    ],
)
def test_duplicate_keys_get_400_naming_the_key(client: TestClient, body: str, key: str) -> None:
    """Check that a key sent twice is refused, not silently last-wins (an out-of-range
    latitude followed by a valid one used to pass)."""
    answer = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["detail"] == [
        {"loc": [key], "msg": "sent more than once: send each field once", "type": "duplicate_key"}
    ]


def test_refusals_are_counted_by_status_and_reason() -> None:
    """Check that each refusal reaches the counter hook with its status and reason."""
    seen: list[tuple[int, str]] = []
    app = Starlette(routes=[Route("/classify", _echo, methods=["POST"])])
    guarded = RequestGuard(
        app,
        schemas={"/classify": TypeAdapter(Listing)},
        max_bytes=2048,
        on_refuse=lambda status, reason: seen.append((status, reason)),
    )
    client = TestClient(guarded)
    json_type = {"content-type": "application/json"}
    client.post("/classify", content="{}", headers={"content-type": "text/plain"})
    client.post("/classify", content="{", headers=json_type)
    client.post("/classify", content="[" + " " * 3000 + "]", headers=json_type)
    client.post(
        "/classify", content='{"id": 1, ' + json.dumps(EXAMPLE_LISTING)[1:], headers=json_type
    )
    client.post("/classify", content=json.dumps(EXAMPLE_LISTING), headers=json_type)
    assert seen == [
        (415, "content_type"),
        (400, "invalid"),
        (413, "too_large"),
        (400, "duplicate_key"),
    ]


def test_a_bentoml_clients_wrapped_body_is_the_request_inside() -> None:
    """Check that ``{"listing": {...}}``, what BentoML's clients send for ``classify(listing)``
    and ``classify(listing=...)``, is checked and passed on as the flat listing, while a flat
    body is unchanged and a wrapper around an invalid listing still names the field."""
    app = Starlette(routes=[Route("/classify", _echo, methods=["POST"])])
    guarded = RequestGuard(
        app,
        schemas={"/classify": TypeAdapter(Listing)},
        max_bytes=4096,
        wrappers={"/classify": "listing"},
    )
    client = TestClient(guarded)
    flat = json.dumps(EXAMPLE_LISTING).encode()
    wrapped = client.post("/classify", json={"listing": EXAMPLE_LISTING})
    assert wrapped.status_code == 200 and wrapped.json() == {"received": len(flat)}
    assert client.post("/classify", content=flat, headers={"content-type": "application/json"})
    bad = client.post("/classify", json={"listing": EXAMPLE_LISTING | {"tv": 7}})
    assert bad.status_code == 400 and bad.json()["detail"][0]["loc"] == ["tv"]
    other = client.post("/classify", json={"listings": EXAMPLE_LISTING})  # not our wrapper
    assert other.status_code == 400


def test_the_fast_path_answers_with_the_given_code() -> None:
    """Check that a path with an answer is answered by that code, with the validated value."""
    seen: list[Any] = []

    async def answer(value: Any) -> bytes:
        seen.append(value)
        return b'{"ok": true}'

    app = Starlette(routes=[Route("/classify", _echo, methods=["POST"])])
    guarded = RequestGuard(
        app,
        schemas={"/classify": TypeAdapter(Listing)},
        max_bytes=4096,
        answers={"/classify": answer},
    )
    reply = TestClient(guarded).post("/classify", json=EXAMPLE_LISTING)
    assert reply.json() == {"ok": True}
    assert isinstance(seen[0], Listing) and seen[0].id == EXAMPLE_LISTING["id"]
