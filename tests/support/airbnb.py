"""The Airbnb project's facts the tests use, read from its declaration (never copied)."""

from __future__ import annotations

from typing import Any

from mle_challenge.project import airbnb

# The request the API's documents show for a model that saved none of its own.
EXAMPLE_LISTING: dict[str, Any] = dict(airbnb().serving.example or {})
