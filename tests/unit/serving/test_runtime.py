"""What surrounds the model in the service: the request guard, the bento manifest, the
BentoML timeout-middleware fix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mle_challenge.model.schema import EXAMPLE_LISTING, listing_model
from mle_challenge.serving.guard import RequestGuard
from mle_challenge.serving.runtime import bento_manifest_model, fix_timeout_middleware_leak

pytestmark = pytest.mark.unit

Listing = listing_model(
    {"room_type": ["Entire home/apt", "Private room"], "neighbourhood": ["Brooklyn", "Queens"]}
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
        (json.dumps(EXAMPLE_LISTING | {"latitude": 52.5}), "latitude: Input should be less"),
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


def test_bento_manifest_model(tmp_path: Path) -> None:
    package = tmp_path / "src" / "mle_challenge"
    package.mkdir(parents=True)
    assert bento_manifest_model(package) is None  # not in a bento
    manifest = {"models": [], "services": [{"models": [{"tag": "price_classifier:abc"}]}]}
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(manifest))
    assert bento_manifest_model(package) == "price_classifier:abc"
    assert bento_manifest_model(tmp_path) is None  # not laid out as <bento>/src/<package>


def test_timeout_middleware_leaves_no_timer_behind() -> None:
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    fix_timeout_middleware_leak()
    fix_timeout_middleware_leak()  # idempotent

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run() -> int:
        middleware = TimeoutMiddleware(app, timeout=60)
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        for _ in range(50):
            await middleware({"type": "http"}, None, send)
        loop = asyncio.get_running_loop()
        return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]

    assert asyncio.run(run()) == 0


def test_timeout_middleware_still_times_out() -> None:
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    fix_timeout_middleware_leak()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(5)

    async def run() -> list[Any]:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        await TimeoutMiddleware(slow, timeout=0.05)({"type": "http"}, None, send)
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 504
