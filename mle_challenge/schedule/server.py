"""``/metrics`` and ``/healthz`` on loopback, from a small threaded WSGI server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CONTENT_TYPE_LATEST

from mle_challenge.errors import ConfigError
from mle_challenge.schedule.metrics import ScheduleMetrics


def make_app(metrics: ScheduleMetrics) -> WSGIApplication:
    """``GET /metrics`` (Prometheus text) and ``GET /healthz`` (JSON); 404 elsewhere."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        status, kind = "200 OK", "application/json"
        if method not in ("GET", "HEAD"):
            status, body = "405 Method Not Allowed", _json({"detail": "use GET"})
        elif path == "/metrics":
            body, kind = metrics.exposition(), CONTENT_TYPE_LATEST
        elif path == "/healthz":
            body = _json(metrics.health())
        else:
            status, body = "404 Not Found", _json({"detail": "not found: GET /metrics, /healthz"})
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    return app


def _json(payload: Any) -> bytes:
    return json.dumps(payload, default=str).encode()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up the others, nor the exit


def start_http(app: WSGIApplication, host: str, port: int) -> WSGIServer:
    """Serve ``app`` on ``host:port`` from a daemon thread; ``shutdown()`` stops it."""
    try:
        server = make_server(host, port, app, _ThreadingServer, _Quiet)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc}): choose another --port") from exc
    threading.Thread(target=server.serve_forever, name="schedule-http", daemon=True).start()
    return server
