"""The prediction service (BentoML 1.4): ``POST /classify``, ``POST /classify_batch``,
``GET /model``, plus BentoML's ``/livez``, ``/readyz``, ``/metrics``, ``/docs.json`` and the
Swagger UI at ``/``.

Serve it with ``make serve``, or ``bentoml serve mle_challenge.service:PriceClassifier``: both
listen on 127.0.0.1 (the service's default host; ``--host`` chooses another), port 3000. It
serves ``MLE_MODEL_TAG``, else the production model of ``MLE_MODEL_NAME``, one name per city.
``make build-bento`` builds it into a bento, which pins the model tag: a bento serves one
city's model (in its image, on the container's interfaces). With ``MLE_FOLLOW_PRODUCTION=1``
each worker follows the production alias of its model's name instead
(:mod:`mle_challenge.serving.follow`).

Importing this module reads no model: the model is chosen once by `bentoml serve` before its
workers start (``choose_model``), and each worker loads it when it starts (``__init__``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import bentoml
from fastapi import FastAPI, HTTPException
from pydantic import Field, TypeAdapter

from mle_challenge.config import get_settings
from mle_challenge.model.city import edges_of
from mle_challenge.model.predictor import Predictor
from mle_challenge.model.schema import (
    Classification,
    ModelInfo,
    answers_for,
    listing_model,
)
from mle_challenge.monitoring.log import PredictionLog
from mle_challenge.project import airbnb
from mle_challenge.serving.follow import Follower, Served, served
from mle_challenge.serving.guard import RequestGuard
from mle_challenge.serving.openapi import PublishedDocs, client_schema, published
from mle_challenge.serving.recording import RequestKeys, log_health, open_log, record_answers
from mle_challenge.serving.runtime import (
    SERVER_PID_VARIABLE,
    clear_failure,
    default_host,
    die_with_parent,
    drain_on_shutdown,
    enforce_header_timeout,
    fix_timeout_middleware_leak,
    follows_production,
    in_worker,
    limit_request_headers,
    served_model_tag,
    settle_heap,
)

_settings = get_settings()
MAX_BATCH = _settings.max_batch
# BentoML reads an API's types when the class is defined, before any model is known: its own
# parsing takes any text for the categories and any coordinates. The request guard, which sees
# every request first, checks each against the model serving at the time, and the published
# OpenAPI document shows that model's types (serving/openapi.py).
Listing = listing_model(None)
Batch = Annotated[list[Listing], Field(min_length=1, max_length=MAX_BATCH)]  # type: ignore[valid-type]
# The guard's schemas, by path: filled when a worker loads its model, replaced in place when a
# followed model swaps in.
_guard_schemas: dict[str, TypeAdapter[Any]] = {}

# What the worker answers with (one per worker process; a request reads it once, so a swap
# never splits a request between two models), its prediction log and its service instance.
_served: Served | None = None
_log: PredictionLog | None = None
_instance: list[PriceClassifier] = []
_counters: dict[str, Any] = {}


def _counter(name: str) -> Any:
    """The worker's own Prometheus counters, made on first use: prometheus_client has to be
    imported after BentoML has set up its multiprocess mode in the worker."""
    if not _counters:
        from prometheus_client import Counter

        _counters["log"] = Counter(
            "mle_prediction_log_rows",
            "Rows handed to the prediction log, by what became of them: written, spilled "
            "(database unreachable), replayed (from the spill), dropped (should stay 0).",
            ["event"],
        )
        _counters["refused"] = Counter(
            "mle_refused_requests",
            "Requests refused before the model saw them, by status and reason.",
            ["status", "reason"],
        )
        _counters["follow"] = Counter(
            "mle_follow_production",
            "Following production: models swapped in, refused (kept the old one; the log says "
            "why) and alias reads that failed, by result and tag or error.",
            ["result", "detail"],
        )
    return _counters[name]


_model_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@_model_app.get("/model", response_model=ModelInfo, tags=["Service APIs"])
def model_info() -> Any:
    """The served model's tag, creation time, metrics and data fingerprint."""
    if _served is None:
        raise HTTPException(status_code=503, detail="model not loaded yet")
    return _served.predictor.summary()


@_model_app.get("/status", include_in_schema=False)
def status() -> dict[str, Any]:
    """This worker's model and prediction log (its ``state`` says whether it is degraded);
    an operator's detail, kept out of the API document (docs/reliability.md)."""
    return {"model": _served.tag if _served else None, "prediction_log": log_health(_log)}


@bentoml.asgi_app(_model_app, path="/")
@bentoml.service(
    name="price_classifier_service",
    workers=_settings.serve_workers,
    traffic={"timeout": 30},
    http={"host": default_host()},
    logging={"access": {"enabled": _settings.access_log}},
    labels={"project": "mle-challenge"},
)
class PriceClassifier:
    """Price category of an Airbnb listing of the served model's city: Low, Mid, High or Lux."""

    @bentoml.on_deployment
    def choose_model() -> None:
        """In `bentoml serve`, before any worker starts: choose the model once and pin it in
        ``MLE_MODEL_TAG``, which every worker inherits (a restarted one too), so all serve the
        same model even when production moves meanwhile. A model that cannot be served (missing,
        tampered) is one line and exit code 2 here, before BentoML starts anything."""
        with clear_failure(parent=True):
            tag = served_model_tag(_settings.model_tag, _settings.model_name)
        os.environ["MLE_MODEL_TAG"] = tag
        os.environ[SERVER_PID_VARIABLE] = str(os.getpid())

    def __init__(self) -> None:
        global _log
        with clear_failure():
            _start_worker()
            tag = served_model_tag(_settings.model_tag, _settings.model_name)
            settle_heap()  # before the model: what it and the requests make stays collectable
            _swap(served(Predictor.load(tag), MAX_BATCH))
        self.log = open_log(_settings.prediction_log)
        if self.log is not None:
            self.log.counts.observers.append(_count_log_rows)
        _log = self.log
        self.follower: Follower | None = None
        if follows_production(_settings.follow_production):
            self.follower = Follower(
                tag.split(":")[0],
                _current(),
                interval=_settings.follow_seconds,
                max_batch=MAX_BATCH,
                swap=_swap,
                count=_count_follow,
            ).start()
        _instance[:] = [self]

    @bentoml.on_shutdown
    def close_log(self) -> None:
        """Write what is still queued before the worker exits (a graceful stop loses nothing)."""
        if self.follower is not None:
            self.follower.stop()
        if self.log is not None:
            self.log.close()

    def __is_ready__(self) -> bool:
        return _served is not None

    @property
    def predictor(self) -> Predictor:
        """The model answering now."""
        return _current().predictor

    @bentoml.api(route="/classify")
    async def classify(self, listing: Listing, /) -> Classification:  # type: ignore[valid-type]
        """Classify one listing. Unknown fields, coordinates outside the model's city and
        categories the model was not trained on are refused with a 400 naming the field."""
        return classify_listings(self.log, "/classify", [listing])[0]

    @bentoml.api(route="/classify_batch")
    def classify_batch(
        self,
        listings: Batch,
        /,
    ) -> list[Classification]:
        """Classify up to ``MLE_MAX_BATCH`` (default 1000) listings; answers keep their order.
        An invalid listing fails the whole call with a 400 naming its index and field."""
        return classify_listings(self.log, "/classify_batch", listings)


def classify_listings(
    log: PredictionLog | None, endpoint: str, listings: Sequence[Any]
) -> list[Classification]:
    """The service's one way to answer: the model serving now, each answer logged."""
    answers = answers_for(_current().predictor, listings)
    record_answers(log, endpoint, listings, answers)
    return answers


def _start_worker() -> None:
    """What a server worker sets up before it loads its model: its tie to `bentoml serve`
    (only in a real worker: a test building the service in-process keeps its own life), the
    limits on slow and oversized requests, the BentoML leak fix and the graceful drain."""
    if in_worker():
        die_with_parent()
    fix_timeout_middleware_leak()
    enforce_header_timeout(_settings.header_timeout)
    limit_request_headers(_settings.max_header_bytes, _settings.max_headers)
    drain_on_shutdown(_settings.drain_grace)


def _current() -> Served:
    assert _served is not None  # set in __init__, before the worker takes requests
    return _served


def _swap(new: Served) -> None:
    """Answer with ``new`` from the next request on (and validate requests by its schema)."""
    global _served
    _guard_schemas.update(new.adapters)
    _served = new


def _fast_answer(api: Any) -> Callable[[Any], Awaitable[bytes]]:
    """The guard's fast path for ``api``: its own method on the worker's instance, called with
    the request the guard validated, its answer serialized by its own response model."""

    async def answer(value: Any) -> bytes:
        result = await api.func(_instance[0], value)
        return bytes(result.model_dump_json().encode())

    return answer


def _count_log_rows(event: str, rows: int) -> None:
    if not event.endswith("failures"):  # times, not rows
        _counter("log").labels(event=event).inc(rows)


def _count_refusal(status: int, reason: str) -> None:
    _counter("refused").labels(status=str(status), reason=reason).inc()


def _count_follow(result: str, detail: str) -> None:
    _counter("follow").labels(result=result, detail=detail).inc()


def published_document() -> dict[str, Any]:
    """The OpenAPI document served at ``/docs.json``, for the model serving now; outside a
    worker (`mle-challenge openapi`), for the model the service would serve, from its
    metadata (chosen here, when asked, as the service would choose it)."""
    if _served is not None:
        listing, tag = _served.listing, _served.tag
        edges, example = _served.predictor.price_edges, _served.predictor.example
    else:
        from mle_challenge.lifecycle.registry import model_contract

        tag = served_model_tag(_settings.model_tag, _settings.model_name)
        contract = model_contract(tag)
        city = contract.city
        listing = listing_model(contract.categories, contract.area, city.example if city else None)
        edges = edges_of(city)
        example = city.example if city else dict(airbnb().serving.example or {})
    batch = Annotated[list[listing], Field(min_length=1, max_length=MAX_BATCH)]  # type: ignore[valid-type]
    return published(
        PriceClassifier.openapi_spec.asdict(),  # type: ignore[attr-defined]
        listing=listing,
        batch=batch,
        model_tag=tag,
        price_edges=edges,
        example=example,
        max_batch=MAX_BATCH,
    )


def _apis() -> dict[str, Any]:
    return dict(PriceClassifier.apis)  # type: ignore[attr-defined]


def _parameter(api: Any) -> str:
    """The name of an API's one argument (after ``self``): what BentoML's clients call it."""
    return next(iter(list(inspect.signature(api.func).parameters)[1:]))


PriceClassifier.add_asgi_middleware(  # type: ignore[attr-defined]
    PublishedDocs,
    document=published_document,
    version=lambda: _served.tag if _served is not None else "",
    client_schema=lambda: client_schema(
        PriceClassifier.schema(),  # type: ignore[attr-defined]
        {name: _parameter(api) for name, api in _apis().items()},
    ),
)
PriceClassifier.add_asgi_middleware(RequestKeys, on_refuse=_count_refusal)  # type: ignore[attr-defined]
PriceClassifier.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard,
    schemas=_guard_schemas,
    answers={"/classify": _fast_answer(_apis()["classify"])} if _settings.fast_classify else None,
    wrappers={api.route: _parameter(api) for api in _apis().values()},
    max_bytes=_settings.max_body_bytes,
    body_timeout=_settings.body_timeout,
    on_refuse=_count_refusal,
)
