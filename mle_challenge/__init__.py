"""From raw Inside Airbnb listings to a versioned, tested, containerised price-category service.

The package reads top to bottom along the data's path:

``sources`` (read a path / HTTP / S3 URL) → ``data`` (validate and clean) → ``synthetic``
(demo listings) → ``features`` (the one definition of the model's inputs) → ``train`` →
``evaluate`` → ``registry`` (BentoML model store) → ``pipeline`` (Luigi wiring) →
``service`` (BentoML HTTP service) → ``cli``.

Nothing heavy is imported here, so ``import mle_challenge`` stays cheap.
"""

__version__ = "0.1.0"

CATEGORIES: tuple[str, ...] = ("Low", "Mid", "High", "Lux")
"""Price categories, cheapest first; their order is the order of the model's classes."""
