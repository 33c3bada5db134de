"""From raw Inside Airbnb listings to a versioned, tested, containerised price-category service.

The parts, in the order the data goes through them (each may import only the parts before it):

- ``data``: read a listings file (path, HTTP or S3 URL), validate and clean it, split it;
  the synthetic demo listings.
- ``model``: the one definition of the features, candidate training, the decision rule,
  evaluation, the API contract a model accepts, and the exact inference engines.
- ``lifecycle``: the model store and lineage, the quality gate, the production alias,
  S3 push and pull.
- ``monitoring``: the prediction log (every answer and batch run, in SQLite or PostgreSQL),
  the reference profile saved with each model, drift and realized performance.
- ``batch``: a listings file of any size → predictions.
- ``serving``: what the HTTP service needs around the model, bento and image builds, a client.

The fronts sit on top, one per way in: ``pipeline`` (Luigi wiring), ``service`` (the BentoML
service) and ``cli``. ``config`` and ``errors`` are shared by all. Nothing heavy is imported
here, so ``import mle_challenge`` stays cheap.
"""

__version__ = "0.1.0"

CATEGORIES: tuple[str, ...] = ("Low", "Mid", "High", "Lux")
"""Price categories, cheapest first; their order is the order of the model's classes."""

PRICE_BINS: tuple[float, ...] = (90.0, 180.0, 400.0)
"""Nightly price (USD) inclusive upper bounds of Low, Mid and High; anything above is Lux."""
