"""Deterministic synthetic listings in Inside Airbnb's raw *detailed* format: the demo data.

``cities`` holds the geographies and markets the listings are drawn in (:data:`CITIES`),
``layouts`` the files' columns in other years (:data:`LAYOUTS`) and the values of the columns
cleaning does not read, and ``generate`` draws the listings (:func:`generate_listings`).
"""

from __future__ import annotations

from mle_challenge.data.synthetic.cities import CITIES, City
from mle_challenge.data.synthetic.generate import generate_listings
from mle_challenge.data.synthetic.layouts import LAYOUTS, SYNTH_COLUMNS, Layout

__all__ = ["CITIES", "LAYOUTS", "SYNTH_COLUMNS", "City", "Layout", "generate_listings"]
