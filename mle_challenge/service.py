"""The prediction service (BentoML 1.4): ``POST /classify``, ``POST /classify_batch``,
``GET /model``, plus BentoML's ``/livez``, ``/readyz``, ``/metrics``, ``/docs.json`` and the
Swagger UI at ``/``.

Serve it with ``bentoml serve mle_challenge.service:PriceClassifier`` (the model in
``MLE_MODEL_TAG``, else the newest registered), or build it into a bento with
``make build-bento``, which pins the model tag.
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
from fastapi import FastAPI, HTTPException
from pydantic import Field, TypeAdapter

from mle_challenge import PRICE_BINS
from mle_challenge.config import get_settings
from mle_challenge.lifecycle.registry import model_categories
from mle_challenge.model.predictor import Predictor
from mle_challenge.model.schema import (
    EXAMPLE_LISTING,
    Classification,
    ModelInfo,
    answers_for,
    listing_model,
)
from mle_challenge.monitoring.log import PredictionLog
from mle_challenge.serving.guard import RequestGuard
from mle_challenge.serving.openapi import PublishedDocs, published
from mle_challenge.serving.recording import open_log, record_answers
from mle_challenge.serving.runtime import (
    drain_on_shutdown,
    enforce_header_timeout,
    fix_timeout_middleware_leak,
    served_model_tag,
)

# The request schema's enums are the served model's categories, so the model has to be known
# when the class is defined: only its tag and metadata are read here, never the model itself.
_settings = get_settings()
MODEL_TAG = served_model_tag(_settings.model_tag)
Listing = listing_model(model_categories(MODEL_TAG))
MAX_BATCH = _settings.max_batch
Batch = Annotated[list[Listing], Field(min_length=1, max_length=MAX_BATCH)]  # type: ignore[valid-type]

fix_timeout_middleware_leak()
enforce_header_timeout(_settings.header_timeout)
drain_on_shutdown(_settings.drain_grace)

# The worker's model, for GET /model and the fast /classify route (one per worker process),
# and its prediction log.
_predictor: Predictor | None = None
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
    return _counters[name]


_model_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@_model_app.get("/model", response_model=ModelInfo, tags=["Service APIs"])
def model_info() -> Any:
    """The served model's tag, creation time, metrics and data fingerprint."""
    if _predictor is None:
        raise HTTPException(status_code=503, detail="model not loaded yet")
    return _predictor.summary()


@bentoml.asgi_app(_model_app, path="/")
@bentoml.service(
    name="price_classifier_service",
    workers=_settings.serve_workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": _settings.access_log}},
    labels={"project": "mle-challenge"},
)
class PriceClassifier:
    """Price category of a New York City Airbnb listing: Low, Mid, High or Lux."""

    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        global _predictor, _log
        self.predictor = Predictor.load(self.model_ref)
        self.log = open_log(_settings.prediction_log)
        if self.log is not None:
            self.log.counts.observers.append(_count_log_rows)
        _predictor, _log = self.predictor, self.log

    @bentoml.on_shutdown
    def close_log(self) -> None:
        """Write what is still queued before the worker exits (a graceful stop loses nothing)."""
        if self.log is not None:
            self.log.close()

    def __is_ready__(self) -> bool:
        return getattr(self, "predictor", None) is not None

    @bentoml.api(route="/classify")
    async def classify(self, listing: Listing, /) -> Classification:  # type: ignore[valid-type]
        """Classify one listing. Unknown fields, values outside NYC and categories the model
        was not trained on are refused with a 400 naming the field."""
        answers = answers_for(self.predictor, [listing])
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
        answers = answers_for(self.predictor, listings)
        record_answers(self.log, "/classify_batch", listings, answers)
        return answers


def _classify_json(listing: Any) -> bytes:
    assert _predictor is not None  # the guard only runs once the service has started
    answers = answers_for(_predictor, [listing])
    record_answers(_log, "/classify", [listing], answers)
    return answers[0].model_dump_json().encode()


def _count_log_rows(event: str, rows: int) -> None:
    if event != "failures":
        _counter("log").labels(event=event).inc(rows)


def _count_refusal(status: int, reason: str) -> None:
    _counter("refused").labels(status=str(status), reason=reason).inc()


def published_document() -> dict[str, Any]:
    """The OpenAPI document served at ``/docs.json``, for the served model."""
    return published(
        PriceClassifier.openapi_spec.asdict(),  # type: ignore[attr-defined]
        listing=Listing,
        batch=Batch,
        model_tag=MODEL_TAG,
        price_edges=PRICE_BINS,
        example=EXAMPLE_LISTING,
        max_batch=MAX_BATCH,
    )


PriceClassifier.add_asgi_middleware(PublishedDocs, document=published_document)  # type: ignore[attr-defined]
PriceClassifier.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard,
    schemas={"/classify": TypeAdapter(Listing), "/classify_batch": TypeAdapter(Batch)},
    answers={"/classify": _classify_json} if _settings.fast_classify else None,
    max_bytes=_settings.max_body_bytes,
    body_timeout=_settings.body_timeout,
    on_refuse=_count_refusal,
)
