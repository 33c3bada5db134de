"""The API's types: one listing in, one classification out, validated by pydantic.

The request model derives from the Airbnb project's declared fields: its categories are enums
of the levels the served model was trained on, and the coordinates must lie in the area of its
training listings, so the request models are built for a model (:func:`listing_model`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from mle_challenge import CATEGORIES
from mle_challenge.model.city import Area
from mle_challenge.project import airbnb
from mle_challenge.project.request import Request, request_model

if TYPE_CHECKING:
    from mle_challenge.model.predictor import Predictor

PriceCategory = StrEnum("PriceCategory", [(c, c) for c in CATEGORIES])  # type: ignore[misc]


def listing_model(
    categories: Mapping[str, Sequence[str]] | None,
    area: Area | None = None,
    example: Mapping[str, Any] | None = None,
) -> type[Request]:
    """The ``Listing`` request model for a model trained on these ``categories``, in this
    ``area``, with its ``example`` request in the schema: the Airbnb project's request model
    (:func:`mle_challenge.project.request.request_model`, derived from its declared fields).
    ``None`` takes any text there (any coordinates): for a service that follows production,
    whose categories change with the model (its request guard checks them against the model
    serving at the time)."""
    project = airbnb()
    bounds = {} if area is None else project.area_bounds(area.latitude, area.longitude)
    return request_model(project, categories, bounds, example)


class Classification(BaseModel):
    """The answer for one listing."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 1001,
                "price_category": "High",
                "probabilities": {"Low": 0.02, "Mid": 0.31, "High": 0.6, "Lux": 0.07},
                "model": "price_classifier:abc123",
            }
        }
    )

    id: int = Field(description="The id of the listing asked about.")
    price_category: PriceCategory = Field(
        description="Low, Mid, High or Lux: the nightly price up to the model's price edges "
        "(NYC's: $90, $180 and $400; see `city` at GET /model). The model's decision, which "
        "may favour rarer categories over the most probable one (see `decision`)."
    )
    probabilities: dict[str, float] = Field(
        description="The model's probability of each category, in price order."
    )
    model: str = Field(description="Tag of the model that answered.")


class DecisionRule(BaseModel):
    """How the model turns its probabilities into the category it answers."""

    rule: str = Field(description="Plain argmax, or argmax of probabilities × prior^-alpha.")
    alpha: float | None = Field(
        default=None, description="The tuned exponent (absent for plain argmax)."
    )
    class_weights: dict[str, float] | None = Field(
        default=None, description="What each category's probability is multiplied by."
    )


class CityInfo(BaseModel):
    """Where the model applies and how its categories are cut, learned from its training rows."""

    price_edges: list[float] = Field(
        description="Upper nightly prices of Low, Mid and High, in the listings' own currency."
    )
    price_rule: str = Field(description="fixed (params.yaml's edges) or quantile (quartiles).")
    area: dict[str, list[float]] = Field(
        description="The latitude and longitude ranges requests must lie in."
    )
    price_peak: list[float] | None = Field(
        description="Where training prices peak (the distance feature's centre)."
    )
    neighbourhood_column: str = Field(description="The raw column the neighbourhood comes from.")
    example: dict[str, Any] = Field(description="A request the model accepts.")


class ModelInfo(BaseModel):
    """The model this service answers with, and where it came from."""

    tag: str = Field(description="name:version in the BentoML model store.")
    created_at: str | None = Field(description="When the model was registered (ISO 8601).")
    candidate: str | None = Field(description="Which params.yaml candidate it is.")
    metrics: dict[str, float] = Field(description="Scores on held-out test rows.")
    validation_metrics: dict[str, float] = Field(description="Scores on the validation rows.")
    data_fingerprint: str | None = Field(description="sha256 of the training listings file.")
    code_version: str | None = Field(description="Git commit of the code that trained it.")
    classes: list[str] = Field(description="Categories it predicts, in price order.")
    categories: dict[str, list[str]] = Field(
        description="room_type and neighbourhood values it was trained on."
    )
    city: CityInfo = Field(description="What it learned about its city.")
    fast_path: bool = Field(description="Whether single requests skip sklearn's per-tree loop.")
    decision: DecisionRule = Field(
        description="How the category is chosen from the probabilities: plain argmax, or "
        "weights that maximise macro-F1 (mle_challenge/model/decision.py)."
    )


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
