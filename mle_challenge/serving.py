"""What the BentoML service needs around the model: which model to serve, request guards,
and a fix for a BentoML memory leak. Kept apart from :mod:`mle_challenge.service` so it can
be tested without starting a server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from mle_challenge.predict import Predictor
from mle_challenge.registry import MODEL_NAME, resolve_tag
from mle_challenge.schema import Classification

ASGIApp = Any
Scope = dict[str, Any]


def bento_manifest_model(package_dir: Path | None = None, name: str = MODEL_NAME) -> str | None:
    """The exact model tag recorded in the bento this code runs from, if it runs from one.

    A bento keeps its source in ``<bento>/src`` and lists its models in ``<bento>/bento.yaml``;
    the tag there was fixed at build time, so a bento never resolves ``latest`` when it serves.
    """
    package_dir = package_dir or Path(__file__).resolve().parent
    manifest = package_dir.parent.parent / "bento.yaml"
    if package_dir.parent.name != "src" or not manifest.is_file():
        return None
    info = yaml.safe_load(manifest.read_text()) or {}
    # BentoML 1.4 lists a service's models under services[*].models; older bentos at the top.
    entries = list(info.get("models") or [])
    for service in info.get("services") or []:
        entries.extend(service.get("models") or [])
    for model in entries:
        tag = str(model.get("tag", "") if isinstance(model, dict) else model)
        if tag.split(":")[0] == name:
            return tag
    return None


def served_model_tag(env_tag: str | None) -> str:
    """Which model to serve, as an exact tag: ``MLE_MODEL_TAG``, else the bento's own, else
    production, else the newest registered. Resolved once, so every worker serves the same."""
    from mle_challenge import lifecycle

    chosen = env_tag or bento_manifest_model()
    if chosen is None:
        chosen = lifecycle.production_tag()
    return resolve_tag(chosen)


def answers_for(predictor: Predictor, listings: Sequence[Any]) -> list[Classification]:
    """Answers for validated ``Listing`` objects: the service's one definition of an answer."""
    predictions = predictor.predict_records([x.model_input() for x in listings])
    return [
        Classification(
            id=listing.id,
            price_category=label,
            probabilities=dict(
                zip(predictor.classes, (round(float(p), 6) for p in row), strict=True)
            ),
            model=predictor.tag,
        )
        for listing, label, row in zip(
            listings, predictions.labels, predictions.probabilities, strict=True
        )
    ]


def validation_error(exc: ValidationError) -> dict[str, Any]:
    """A 400 body naming each bad field as ``[index].field`` (batches) or ``field``."""
    detail = [
        {"loc": list(e["loc"]), "msg": e["msg"].removeprefix("Value error, "), "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    shown = "; ".join(f"{_where(d['loc'])}: {d['msg']}" for d in detail[:5])
    more = f" (and {len(detail) - 5} more)" if len(detail) > 5 else ""
    count = f"invalid request, {len(detail)} problem{'s' if len(detail) != 1 else ''}"
    return {"error": f"{count}: {shown}{more}", "detail": detail}


def _where(loc: Any) -> str:
    if not loc:
        return "body"
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


class RequestGuard:
    """Check requests before BentoML reads them, and answer in plain words when they fail:
    non-JSON bodies get 415, bodies over ``max_bytes`` 413 (announced or not), and invalid
    JSON or fields 400 with each bad field named (BentoML's own message names its internal
    classes). ``schemas`` maps a path to the pydantic ``TypeAdapter`` of its body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        schemas: dict[str, TypeAdapter[Any]],
        max_bytes: int,
        answers: dict[str, Callable[[Any], bytes]] | None = None,
    ) -> None:
        self.app = app
        self.schemas = schemas
        self.max_bytes = max_bytes
        self.answers = answers or {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        schema = self.schemas.get(scope["path"]) if scope["type"] == "http" else None
        if schema is None or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media_type != b"application/json":
            shown = media_type.decode("latin-1") or "none"
            return await self._refuse(
                send, 415, f"Content-Type must be application/json (got {shown})."
            )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, 413, self._too_large())
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._refuse(send, 413, self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            value = schema.validate_json(body or b"null")
        except ValidationError as exc:
            return await self._send_json(send, 400, validation_error(exc))
        answer = self.answers.get(scope["path"])
        if answer is not None:
            return await self._send_bytes(send, 200, answer(value))
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()  # only a disconnect can follow
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes: send fewer listings per call."

    @classmethod
    async def _refuse(cls, send: Any, status: int, message: str) -> None:
        await cls._send_json(send, status, {"error": message})

    @classmethod
    async def _send_json(cls, send: Any, status: int, payload: dict[str, Any]) -> None:
        await cls._send_bytes(send, status, json.dumps(payload).encode())

    @staticmethod
    async def _send_bytes(send: Any, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def fix_timeout_middleware_leak() -> None:
    """Cancel the per-request timer of BentoML's ``TimeoutMiddleware`` once a response starts.

    BentoML 1.4.39 arms ``loop.call_later(timeout, ...)`` for every request and never cancels
    it, so each request's context (its tracing spans included) lives for the whole timeout,
    60 s by default: measured here, RSS grew by about 5 KB a request and garbage-collection
    pauses reached 100 to 350 ms under load. Same behaviour otherwise, including the 504.
    """
    from bentoml._internal.server.http import traffic

    middleware = traffic.TimeoutMiddleware
    if getattr(middleware, "_mle_fixed", False):
        return
    from starlette.responses import JSONResponse

    async def __call__(self: Any, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        future = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if future.cancel():
                message = f"Not able to process the request in {self.timeout} seconds"
                await JSONResponse({"error": message}, status_code=504)(scope, receive, send)
        else:
            timer.cancel()
            await future
        return None

    middleware.__call__ = __call__  # type: ignore[method-assign,assignment]
    middleware._mle_fixed = True  # type: ignore[attr-defined]
