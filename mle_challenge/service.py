"""The prediction service (BentoML 1.4): ``POST /classify``, ``POST /classify_batch``,
``GET /model``, plus BentoML's ``/livez``, ``/readyz``, ``/metrics``, ``/docs.json`` and the
Swagger UI at ``/``.

Serve it with ``bentoml serve mle_challenge.service:PriceClassifier`` (the model in
``MLE_MODEL_TAG``, else the production model of ``MLE_MODEL_NAME``, one name per city), or
build it into a bento with ``make build-bento``, which pins the model tag: a bento serves one
city's model. With ``MLE_FOLLOW_PRODUCTION=1`` each worker follows the production alias of its
model's name instead (:mod:`mle_challenge.serving.follow`).
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
from fastapi import FastAPI, HTTPException
from pydantic import Field, TypeAdapter

from mle_challenge.config import get_settings
from mle_challenge.lifecycle.registry import model_contract
from mle_challenge.model.city import edges_of
from mle_challenge.model.predictor import Predictor
from mle_challenge.model.schema import (
    EXAMPLE_LISTING,
    Classification,
    ModelInfo,
    answers_for,
    listing_model,
)
from mle_challenge.monitoring.log import PredictionLog
from mle_challenge.serving.follow import Follower, Served, served
from mle_challenge.serving.guard import RequestGuard
from mle_challenge.serving.openapi import PublishedDocs, published
from mle_challenge.serving.recording import RequestKeys, log_health, open_log, record_answers
from mle_challenge.serving.runtime import (
    drain_on_shutdown,
    enforce_header_timeout,
    fix_timeout_middleware_leak,
    follows_production,
    served_model_tag,
    settle_heap,
)

# The request schema's enums are the served model's categories, so the model has to be known
# when the class is defined: only its tag and metadata are read here, never the model itself.
_settings = get_settings()
MODEL_TAG = served_model_tag(_settings.model_tag, _settings.model_name)
FOLLOW = follows_production(_settings.follow_production)
MAX_BATCH = _settings.max_batch
_contract = model_contract(MODEL_TAG)
_city = _contract.city
_Strict = listing_model(_contract.categories, _contract.area, _city.example if _city else None)
# Following production, the categories change with the model: BentoML's own parsing takes any
# text there, and the request guard, which sees every request first, checks them against the
# model serving at the time.
Listing = listing_model(None) if FOLLOW else _Strict
Batch = Annotated[list[Listing], Field(min_length=1, max_length=MAX_BATCH)]  # type: ignore[valid-type]
_StrictBatch = Annotated[list[_Strict], Field(min_length=1, max_length=MAX_BATCH)]  # type: ignore[valid-type]
# The guard's schemas, by path: replaced in place when a followed model swaps in.
_guard_schemas: dict[str, TypeAdapter[Any]] = {
    "/classify": TypeAdapter(_Strict),
    "/classify_batch": TypeAdapter(_StrictBatch),
}

fix_timeout_middleware_leak()
enforce_header_timeout(_settings.header_timeout)
drain_on_shutdown(_settings.drain_grace)

# What the worker answers with (one per worker process; a request reads it once, so a swap
# never splits a request between two models), and its prediction log.
_served: Served | None = None
_log: PredictionLog | None = None
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
    logging={"access": {"enabled": _settings.access_log}},
    labels={"project": "mle-challenge"},
)
class PriceClassifier:
    """Price category of an Airbnb listing of the served model's city: Low, Mid, High or Lux."""

    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        global _log
        settle_heap()  # first: what the model and the requests make stays collectable
        _swap(served(Predictor.load(self.model_ref), MAX_BATCH))
        self.log = open_log(_settings.prediction_log)
        if self.log is not None:
            self.log.counts.observers.append(_count_log_rows)
        _log = self.log
        self.follower: Follower | None = None
        if FOLLOW:
            assert _served is not None
            self.follower = Follower(
                MODEL_TAG.split(":")[0],
                _served,
                interval=_settings.follow_seconds,
                max_batch=MAX_BATCH,
                swap=_swap,
                count=_count_follow,
            ).start()

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
        answers = answers_for(_current().predictor, [listing])
        record_answers(self.log, "/classify", [listing], answers)
        return answers[0]

    @bentoml.api(route="/classify_batch")
    def classify_batch(
        self,
        listings: Batch,
        /,
    ) -> list[Classification]:
        """Classify up to ``MLE_MAX_BATCH`` (default 1000) listings; answers keep their order.
        An invalid listing fails the whole call with a 400 naming its index and field."""
        answers = answers_for(_current().predictor, listings)
        record_answers(self.log, "/classify_batch", listings, answers)
        return answers


def _current() -> Served:
    assert _served is not None  # set in __init__, before the worker takes requests
    return _served


def _swap(new: Served) -> None:
    """Answer with ``new`` from the next request on (and validate requests by its schema)."""
    global _served
    _guard_schemas.update(new.adapters)
    _served = new


def _classify_json(listing: Any) -> bytes:
    answers = answers_for(_current().predictor, [listing])
    record_answers(_log, "/classify", [listing], answers)
    return answers[0].model_dump_json().encode()


def _count_log_rows(event: str, rows: int) -> None:
    if not event.endswith("failures"):  # times, not rows
        _counter("log").labels(event=event).inc(rows)


def _count_refusal(status: int, reason: str) -> None:
    _counter("refused").labels(status=str(status), reason=reason).inc()


def _count_follow(result: str, detail: str) -> None:
    _counter("follow").labels(result=result, detail=detail).inc()


def published_document() -> dict[str, Any]:
    """The OpenAPI document served at ``/docs.json``, for the model serving now."""
    if _served is not None:
        listing, tag = _served.listing, _served.tag
        edges, example = _served.predictor.price_edges, _served.predictor.example
    else:  # `mle-challenge openapi`, outside a worker: from the model's metadata
        listing, tag = _Strict, MODEL_TAG
        edges = edges_of(_city)
        example = _city.example if _city else EXAMPLE_LISTING
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


PriceClassifier.add_asgi_middleware(  # type: ignore[attr-defined]
    PublishedDocs,
    document=published_document,
    version=lambda: _served.tag if _served is not None else MODEL_TAG,
)
PriceClassifier.add_asgi_middleware(RequestKeys, on_refuse=_count_refusal)  # type: ignore[attr-defined]
PriceClassifier.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard,
    schemas=_guard_schemas,
    answers={"/classify": _classify_json} if _settings.fast_classify else None,
    max_bytes=_settings.max_body_bytes,
    body_timeout=_settings.body_timeout,
    on_refuse=_count_refusal,
)
