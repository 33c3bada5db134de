"""Deterministic synthetic listings in Inside Airbnb's raw *detailed* format: the demo data."""

from __future__ import annotations

from mle_challenge.data.synthetic.generate import (
    CITIES,
    LAYOUTS,
    SYNTH_COLUMNS,
    City,
    Layout,
    generate_listings,
)

__all__ = ["CITIES", "LAYOUTS", "SYNTH_COLUMNS", "City", "Layout", "generate_listings"]
