"""What the BentoML service needs around the model: which model to serve, where to listen,
what a worker sets up when it starts (its tie to the parent, the limits on request headers,
fixes for a BentoML leak and uvicorn's slow clients), and one clear line when it cannot start.
Kept apart from :mod:`mle_challenge.service` so it can be tested without starting a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from mle_challenge.errors import ConfigError, MleError
from mle_challenge.lifecycle.registry import MODEL_NAME, resolve_tag

ASGIApp = Any
Scope = dict[str, Any]


def settle_heap() -> None:
    """Keep the garbage collector's full passes off what lives as long as the worker.

    A worker holds about a million long-lived objects (BentoML, pandas, scikit-learn). With
    the prediction log on, each answer allocates a few short-lived ones, and every few seconds a
    full collection walked the whole heap: 120-150 ms with the interpreter lock held, the whole
    of the PostgreSQL log's p99 at c=8 (50-57 ms; gc callbacks timed the pauses to the second of
    the spikes). Frozen objects are skipped by every later pass.

    Called before the model is loaded, so that the model stays collectable: when a following
    worker swaps models, the old one's cycles are freed by a pass over what came after the
    freeze, a few milliseconds, where a pass over the whole heap held requests for 140 ms.
    """
    gc.collect()
    gc.freeze()


# The bento label that carries its model's content hash: a container has no model cards.
CONTENT_HASH_LABEL = "model_content_hash"
# The bento label of a bento built to follow production (`bento build --follow`).
FOLLOW_LABEL = "follow_production"


@dataclass(frozen=True)
class BentoModel:
    """The model a bento was built for, and the content hash it had then."""

    tag: str
    content_hash: str | None
    follows: bool = False  # built with --follow: serve production, starting from this model


def bento_manifest_model(package_dir: Path | None = None) -> BentoModel | None:
    """The exact model recorded in the bento this code runs from, if it runs from one.

    A bento keeps its source in ``<bento>/src`` and lists its models in ``<bento>/bento.yaml``;
    the tag there was fixed at build time, so a bento never resolves ``latest`` when it serves.
    A bento carries exactly one model (``build_bento`` checks it), of whichever name: the bento
    decides which city it serves.
    """
    package_dir = package_dir or Path(__file__).resolve().parents[1]
    manifest = package_dir.parent.parent / "bento.yaml"
    if package_dir.parent.name != "src" or not manifest.is_file():
        return None
    info = yaml.safe_load(manifest.read_text()) or {}
    # BentoML 1.4 lists a service's models under services[*].models; older bentos at the top.
    entries = list(info.get("models") or [])
    for service in info.get("services") or []:
        entries.extend(service.get("models") or [])
    labels = info.get("labels") or {}
    expected = labels.get(CONTENT_HASH_LABEL)
    follows = str(labels.get(FOLLOW_LABEL, "")).lower() == "true"
    for model in entries:
        tag = str(model.get("tag", "") if isinstance(model, dict) else model)
        if tag:
            return BentoModel(tag, str(expected) if expected else None, follows)
    return None


def follows_production(setting: bool | None) -> bool:
    """Whether this service follows production: ``MLE_FOLLOW_PRODUCTION`` when it is set (on
    or off), else what the bento it runs from was built with."""
    if setting is not None:
        return setting
    pinned = bento_manifest_model()
    return pinned is not None and pinned.follows


def served_model_tag(env_tag: str | None, env_name: str | None = None) -> str:
    """Which model to serve, as an exact tag: ``MLE_MODEL_TAG``, else the bento's own, else
    the production model of ``MLE_MODEL_NAME`` (default ``price_classifier``), else that
    name's newest. Resolved once, so every worker serves the same, and checked against its
    content hash before any worker unpickles it: the bento's label for the bento's own model,
    the model's card otherwise. A name that disagrees with the tag is refused, not guessed."""
    from mle_challenge.lifecycle import production, store

    pinned = bento_manifest_model()
    given = env_tag or (pinned.tag if pinned is not None else None)
    if env_name and given and given.split(":")[0] != env_name:
        source = "MLE_MODEL_TAG" if env_tag else "this bento's model"
        raise ConfigError(
            f"MLE_MODEL_NAME={env_name} but {source} is {given}, a model of another name: "
            "unset MLE_MODEL_NAME, or serve a model of that name (`mle-challenge bento build "
            f"--model-name {env_name}`)."
        )
    if pinned is not None and env_tag in (None, pinned.tag):
        if pinned.content_hash is None:
            raise store.IntegrityError(
                f"this bento does not record the content hash of {pinned.tag}: rebuild it with "
                "`make build-bento`."
            )
        return store.verified(pinned.tag, pinned.content_hash)
    name = env_name or MODEL_NAME
    chosen = env_tag or production.production_tag(name)
    return store.verified(resolve_tag(chosen, name))


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


def enforce_header_timeout(seconds: float) -> None:
    """Answer 408 and close a connection whose request headers have not all arrived within
    ``seconds`` of the connection opening (or of the request's first byte, on a kept-alive
    connection).

    uvicorn 0.54 arms no timer while headers arrive: its keep-alive timer is cancelled by any
    byte, so a client sending a header line every few seconds (slowloris) held its connection
    for as long as it liked; 200 such connections stayed open indefinitely. Patches uvicorn's
    httptools protocol, the one BentoML's workers run when httptools is installed. Calling it
    again changes the timeout.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # h11 only: uvicorn's own behaviour stands
        return
    protocol: Any = HttpToolsProtocol
    protocol._mle_header_timeout = seconds
    if getattr(protocol, "_mle_patched", False):
        return
    made, begin = protocol.connection_made, protocol.on_message_begin
    complete, lost = protocol.on_headers_complete, protocol.connection_lost

    def disarm(self: Any) -> None:
        timer = getattr(self, "_mle_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._mle_header_timer = None

    def expire(self: Any) -> None:
        self._mle_header_timer = None
        if not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
            )
            self.transport.close()

    def arm(self: Any) -> None:
        disarm(self)
        self._mle_header_timer = self.loop.call_later(protocol._mle_header_timeout, expire, self)

    def connection_made(self: Any, transport: Any) -> None:
        made(self, transport)
        arm(self)

    def on_message_begin(self: Any) -> None:
        begin(self)
        if getattr(self, "_mle_header_timer", None) is None:
            arm(self)

    def on_headers_complete(self: Any) -> None:
        disarm(self)
        complete(self)

    def connection_lost(self: Any, exc: Exception | None) -> None:
        disarm(self)
        lost(self, exc)

    protocol.connection_made = connection_made
    protocol.on_message_begin = on_message_begin
    protocol.on_headers_complete = on_headers_complete
    protocol.connection_lost = connection_lost
    protocol._mle_patched = True


def drain_on_shutdown(idle_grace: float) -> None:
    """Shut down without resetting a client: refuse new connections, answer what is in flight.

    With BentoML's process manager the listening socket belongs to the arbiter, which closes it
    only after the workers have exited. uvicorn stops accepting at once, so connections the
    kernel completes meanwhile wait in the backlog and are reset when the socket finally closes;
    and it closes idle kept-alive connections at once, while their clients may be sending. Both
    were measured: 10 to 13 resets per SIGTERM under 8 keep-alive clients. Patched here:
    - the shared listening socket is shut for every process first, so a new connection is
      refused outright (the client can retry elsewhere) rather than accepted and reset;
    - an idle connection is kept for ``idle_grace`` seconds: a request arriving meanwhile is
      answered with ``Connection: close``, as are requests already in flight.
    """
    import socket

    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import Server
    except ImportError:  # pragma: no cover - uvicorn without httptools keeps its behaviour
        return
    protocol: Any = HttpToolsProtocol
    protocol._mle_idle_grace = idle_grace
    if getattr(Server, "_mle_drains", False):
        return
    original_shutdown = Server.shutdown
    connection_shutdown = protocol.shutdown
    headers_complete = protocol.on_headers_complete

    async def shutdown(self: Any, sockets: Any = None) -> None:
        for server in self.servers:
            for listening in server.sockets:
                # shutdown() acts on the socket every process shares; a duplicate descriptor
                # is enough to reach it, and closing the duplicate leaves the others alone.
                shared = socket.socket(fileno=os.dup(listening.fileno()))
                with contextlib.suppress(OSError):  # another worker was first
                    shared.shutdown(socket.SHUT_RD)
                shared.close()
        await original_shutdown(self, sockets)

    def connection_shutdown_later(self: Any) -> None:
        self._mle_draining = True
        if self.cycle is None or self.cycle.response_complete:
            self._unset_keepalive_if_required()
            self.loop.call_later(protocol._mle_idle_grace, _close_if_idle, self)
        else:
            connection_shutdown(self)

    def on_headers_complete(self: Any) -> None:
        headers_complete(self)
        if getattr(self, "_mle_draining", False) and self.cycle is not None:
            self.cycle.keep_alive = False  # the answer says Connection: close

    Server.shutdown = shutdown  # type: ignore[method-assign]
    Server._mle_drains = True  # type: ignore[attr-defined]
    protocol.shutdown = connection_shutdown_later
    protocol.on_headers_complete = on_headers_complete


def _close_if_idle(connection: Any) -> None:
    idle = connection.cycle is None or connection.cycle.response_complete
    if idle and not connection.transport.is_closing():
        connection.transport.close()


# Where `bentoml serve` listens when neither --host nor BENTOML_HOST says: loopback, as
# `make serve` does. In the image (BentoML's Dockerfile sets BENTO_PATH) the service listens on
# the container's own interfaces, which is how a port is reached at all; compose and the
# Kubernetes manifests publish it on 127.0.0.1 or inside the cluster only.
LOOPBACK = "127.0.0.1"
CONTAINER_HOST = "0.0.0.0"  # inside the container's network namespace only


def default_host(environ: dict[str, str] | None = None) -> str:
    """The address the service binds by default: loopback, except inside its own image."""
    environ = dict(os.environ) if environ is None else environ
    return CONTAINER_HOST if environ.get("BENTO_PATH") else LOOPBACK


# The pid of `bentoml serve` (the arbiter that starts the workers), set by its deployment hook
# before any worker starts; a worker compares it with its parent to see whether it was orphaned.
SERVER_PID_VARIABLE = "MLE_SERVER_PID"
EXIT_CANNOT_START = 2  # as the CLI's exit code for a user's error
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def in_worker() -> bool:
    """Whether this process is a BentoML server worker (not `bentoml serve`'s parent, not a
    test that builds the service in-process)."""
    from bentoml._internal.context import server_context

    return server_context.worker_index is not None


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send this worker ``sig`` when `bentoml serve` dies, even by SIGKILL.

    Without it, a killed parent left its workers serving on the port (they hold the listening
    socket), and the next `bentoml serve` failed with "address in use". SIGTERM lets the worker
    drain and flush its prediction log as on any stop. A parent that died before the tie was
    made (the worker imports for seconds first) is caught by comparing the parent's pid with
    the one `bentoml serve` recorded. Linux only; elsewhere False and nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    expected = os.environ.get(SERVER_PID_VARIABLE, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os.kill(os.getpid(), sig)  # orphaned already: stop as the parent's death would have
    return True


@contextlib.contextmanager
def clear_failure(*, parent: bool = False) -> Iterator[None]:
    """Turn our own errors (a tampered model, a missing one, a bad setting) into one line on
    stderr and exit code 2 where BentoML would wrap them in 40 lines of its traceback: in
    `bentoml serve`'s deployment hook (``parent``) and in a server worker's start-up. Anywhere
    else (the service built in-process, `mle-challenge openapi`) the error propagates."""
    try:
        yield
    except MleError as exc:
        if not parent and not in_worker():
            raise
        _exit_with(f"error: {exc}")


def _exit_with(line: str) -> NoReturn:
    print(line, file=sys.stderr, flush=True)
    # A worker exits at once: a raise would reach Starlette's lifespan, which prints the
    # traceback anyway. The parent exits through SystemExit, which BentoML's CLI passes on.
    if in_worker():
        sys.stdout.flush()
        os._exit(EXIT_CANNOT_START)
    raise SystemExit(EXIT_CANNOT_START)


@dataclass
class HeaderBudget:
    """A request's header bytes and lines, counted as they arrive, before the HTTP parser
    buffers them (httptools keeps a header it has not finished in memory, however long).

    ``feed`` counts up to the blank line that ends the headers, then nothing until
    ``restart`` (the next request on the connection). The count of headers is the count of
    lines past the request line; a body or the next request in the same chunk is not counted.
    """

    max_bytes: int
    max_count: int
    size: int = 0
    lines: int = 0
    open: bool = True
    _tail: bytes = b""

    def restart(self) -> None:
        self.size, self.lines, self.open, self._tail = 0, 0, True, b""

    def feed(self, data: bytes) -> str | None:
        """Why the request's headers are refused once ``data`` has arrived, or None."""
        if not self.open:
            return None
        window = self._tail + data
        end = _end_of_headers(window)
        part = data if end < 0 else window[len(self._tail) : end]
        self.size += len(part)
        self.lines += part.count(b"\n")
        if end < 0:
            self._tail = window[-3:]
        else:
            self.open = False
        headers = self.lines - 1 - (0 if self.open else 1)  # not the request line, the blank
        if self.size > self.max_bytes:
            return (
                f"request headers larger than {self.max_bytes} bytes: send fewer or shorter "
                "headers (MLE_MAX_HEADER_BYTES sets the limit)"
            )
        if headers > self.max_count:
            return (
                f"more than {self.max_count} request headers: send fewer "
                "(MLE_MAX_HEADERS sets the limit)"
            )
        return None


def _end_of_headers(window: bytes) -> int:
    """Index just past the blank line ending the headers in ``window``, or -1."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := window.find(mark)) >= 0]
    return min(ends) if ends else -1


def refused_headers_response(reason: str) -> bytes:
    """The 431 answer, JSON as every refusal of the service, and the connection closed."""
    import json

    body = json.dumps({"error": reason}).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def limit_request_headers(max_bytes: int, max_count: int) -> None:
    """Answer 431 and close a connection whose request headers pass ``max_bytes`` in all or
    ``max_count`` in number, before the parser holds them.

    uvicorn 0.54's httptools protocol sets no limit (h11's ``h11_max_incomplete_event_size``
    applies to h11 only, and BentoML exposes neither): a 32 MB header and 500,000 headers were
    both answered 200, and eight parallel 5.9 MB headers added 117 and 162 MB to two workers
    while a /classify sent meanwhile took 5 s. Calling it again changes the limits.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # h11 only: its own 16 KB limit on incomplete headers applies
        return
    protocol: Any = HttpToolsProtocol
    protocol._mle_header_limits = (max_bytes, max_count)
    if getattr(protocol, "_mle_limits_headers", False):
        return
    made, received = protocol.connection_made, protocol.data_received
    begin, complete = protocol.on_message_begin, protocol.on_headers_complete

    def connection_made(self: Any, transport: Any) -> None:
        self._mle_budget = HeaderBudget(*protocol._mle_header_limits)
        made(self, transport)

    def data_received(self: Any, data: bytes) -> None:
        budget: HeaderBudget | None = getattr(self, "_mle_budget", None)
        reason = budget.feed(data) if budget is not None else None
        if reason is None:
            return received(self, data)
        if not self.transport.is_closing():
            self.transport.write(refused_headers_response(reason))
            self.transport.close()
        return None

    def on_message_begin(self: Any) -> None:
        budget: HeaderBudget | None = getattr(self, "_mle_budget", None)
        if budget is not None and not budget.open:  # the next request on this connection
            budget.restart()
        begin(self)

    def on_headers_complete(self: Any) -> None:
        budget: HeaderBudget | None = getattr(self, "_mle_budget", None)
        if budget is not None:
            budget.open = False
        complete(self)

    protocol.connection_made = connection_made
    protocol.data_received = data_received
    protocol.on_message_begin = on_message_begin
    protocol.on_headers_complete = on_headers_complete
    protocol._mle_limits_headers = True
