"""What models pickled before the encoding was declared name, so that they still load and
answer as they did: ``mle_challenge.model.features.ListingFeatures`` (found here through that
module's ``__getattr__``) and the field lists of that time."""

from __future__ import annotations

from typing import Any

from mle_challenge import CATEGORIES
from mle_challenge.model.city import NYC_AREA, Area
from mle_challenge.model.features import DeclaredFeatures

# The Airbnb fields and ratios as ListingFeatures hard-coded them (the packaged project file
# declares the same, but an old model must not change when that file does).
FIELDS: tuple[tuple[str, str], ...] = (
    ("accommodates", "count"),
    ("room_type", "category"),
    ("beds", "number"),
    ("bedrooms", "number"),
    ("bathrooms", "number"),
    ("neighbourhood", "category"),
    ("tv", "flag"),
    ("elevator", "flag"),
    ("internet", "flag"),
    ("latitude", "latitude"),
    ("longitude", "longitude"),
)
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("guests_per_bedroom", "accommodates", "bedrooms"),
    ("beds_per_guest", "beds", "accommodates"),
    ("baths_per_bedroom", "bathrooms", "bedrooms"),
)
API_FEATURES: tuple[str, ...] = tuple(name for name, _ in FIELDS)
CATEGORICAL: tuple[str, ...] = tuple(name for name, kind in FIELDS if kind == "category")
NUMERIC: tuple[str, ...] = tuple(c for c in API_FEATURES if c not in CATEGORICAL)
API_FLAGS: tuple[str, ...] = ("TV", "Elevator", "Internet")  # the clean table's flag names

MIDTOWN = (40.7549, -73.9840)  # the distance feature's centre before it was learned


class ListingFeatures(DeclaredFeatures):
    """The Airbnb encoding as it was before it was declared: :class:`DeclaredFeatures` of the
    fields and ratios above. Models fitted before the city was learned were NYC's, with
    Midtown as their centre (the class defaults)."""

    area_: Area | None = NYC_AREA
    centre_: tuple[float, float] = MIDTOWN
    lon_scale_: float = 0.76

    def __init__(self) -> None:
        super().__init__(fields=FIELDS, ratios=RATIOS, classes=CATEGORIES)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # An old pickle holds what fit learned then, not the declaration nor the layout.
        super().__setstate__(state)
        self.fields, self.ratios, self.classes = FIELDS, RATIOS, CATEGORIES
        if "categories_" in state:
            self._layout()
