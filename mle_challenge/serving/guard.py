"""The request guard: checks requests before BentoML reads them, and answers in plain words
when they fail (415 for non-JSON, 413 for bodies over the limit, 400 naming each bad field).

It also takes the body BentoML's own clients send for a keyword call
(``SyncHTTPClient(url).classify(listing=...)`` sends ``{"listing": {...}}``): the one value
inside is the request, checked like a flat body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

ASGIApp = Any
Scope = dict[str, Any]


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


class _Repeated(Exception):
    pass


def duplicate_keys(body: bytes) -> list[str]:
    """Keys sent twice in one JSON object of ``body``: JSON parsers keep the last silently, so
    an out-of-range value followed by a valid one would pass. Empty for valid JSON without
    repeats (and for invalid JSON, which validation has already refused)."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            found.extend(sorted({k for k in keys if keys.count(k) > 1}))
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return []
    return sorted(set(found))


def unwrapped(body: bytes, key: str) -> bytes | None:
    """The value of ``body`` when it is a JSON object of ``key`` alone, as JSON; else None.

    BentoML's HTTP clients send a keyword (or, for an API of named fields, a positional)
    argument as ``{key: value}``. No request of ours has such a field, so the wrapper is
    never ambiguous with a flat body.
    """
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or list(value) != [key]:
        return None
    return json.dumps(value[key]).encode()


def duplicate_error(keys: list[str]) -> dict[str, Any]:
    detail = [
        {"loc": [k], "msg": "sent more than once: send each field once", "type": "duplicate_key"}
        for k in keys
    ]
    shown = "; ".join(f"{d['loc'][0]}: {d['msg']}" for d in detail)
    return {"error": f"invalid request, {len(detail)} problem(s): {shown}", "detail": detail}


class RequestGuard:
    """Check requests before BentoML reads them, and answer in plain words when they fail:
    non-JSON bodies get 415, bodies over ``max_bytes`` 413 (announced or not), and invalid
    JSON or fields 400 with each bad field named (BentoML's own message names its internal
    classes). ``schemas`` maps a path to the pydantic ``TypeAdapter`` of its body; ``wrappers``
    to the key BentoML's clients may wrap that body in; ``answers`` to the API's own code, to
    answer it here, past BentoML's per-request parsing (the fast path)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        schemas: dict[str, TypeAdapter[Any]],
        max_bytes: int,
        answers: dict[str, Callable[[Any], Awaitable[bytes]]] | None = None,
        wrappers: dict[str, str] | None = None,
        body_timeout: float = 30.0,
        on_refuse: Callable[[int, str], None] | None = None,
    ) -> None:
        self.app = app
        self.on_refuse = on_refuse
        self.schemas = schemas
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout
        self.answers = answers or {}
        self.wrappers = wrappers or {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        schema = self.schemas.get(scope["path"]) if scope["type"] == "http" else None
        if schema is None or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media_type != b"application/json":
            shown = media_type.decode("latin-1") or "none"
            wrong = f"Content-Type must be application/json (got {shown})."
            return await self._refuse(send, 415, "content_type", {"error": wrong})
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, 413, "too_large", self._too_large())
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        while True:
            try:
                message = await asyncio.wait_for(
                    receive(), deadline - asyncio.get_running_loop().time()
                )
            except TimeoutError:
                late = f"the request body did not arrive within {self.body_timeout:g} s."
                return await self._refuse(send, 408, "slow_body", {"error": late})
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._refuse(send, 413, "too_large", self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        repeated = duplicate_keys(body)
        try:
            value = schema.validate_json(body or b"null")
        except ValidationError as exc:
            inner = unwrapped(body, self.wrappers.get(scope["path"], "")) if body else None
            if inner is None:
                return await self._refuse(send, 400, "invalid", validation_error(exc))
            try:  # a BentoML client's {"listing": {...}}: the request is the value inside
                value, body = schema.validate_json(inner), inner
            except ValidationError as inner_exc:
                return await self._refuse(send, 400, "invalid", validation_error(inner_exc))
        if repeated:
            return await self._refuse(send, 400, "duplicate_key", duplicate_error(repeated))
        answer = self.answers.get(scope["path"])
        if answer is not None:
            return await self._send_bytes(send, 200, await answer(value))
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()  # only a disconnect can follow
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _too_large(self) -> dict[str, Any]:
        size = f"request body is larger than {self.max_bytes} bytes: send fewer listings per call."
        return {"error": size}

    async def _refuse(self, send: Any, status: int, reason: str, body: dict[str, Any]) -> None:
        if self.on_refuse is not None:
            self.on_refuse(status, reason)
        await self._send_bytes(send, status, json.dumps(body).encode())

    @staticmethod
    async def _send_bytes(send: Any, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
