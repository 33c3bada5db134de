"""Unit tests: the vectorised amenities parser gives exactly the JSON parser's answers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mle_challenge.data import clean

CELLS = [
    '["Wifi", "HDTV with Netflix"]',
    None,
    "",
    "[]",
    ' [ "Elevator" ,\n"Kitchen" ] ',
    "{Wifi,TV}",
    '["ok", 3]',
    '["Wifi"',
    '["Wifi"] x',
    '["Caf\\u00e9 TV", "Air conditioning"]',  # escapes: decoded exactly
    '["\\u0054V"]',  # an escaped letter: "TV" once decoded, not in the raw text
    '["\\u0ABBreakfast"]',  # raw text has "Breakfast", the decoded item does not
    '["a\\"b", "Heating"]',
    '["tab\there"]',  # a raw control character: not JSON
    '["Wifi", null]',
    '"Wifi"',
    '["TV"]\t',
    '["Internet", "Wifi – 300 Mbps", "Breakfast"]',
    "[,]",
    '["", "TV",]',
]


def _expected(cells: pd.Series) -> tuple[list[bool], pd.DataFrame]:
    parsed = clean.parse_amenities(cells)
    return parsed.notna().tolist(), clean.amenity_flags(parsed)


@pytest.mark.parametrize("cell", CELLS)
def test_parse_amenity_flags_matches_json(cell: str | None) -> None:
    """Check validity and every flag against json.loads, one tricky cell at a time."""
    cells = pd.Series([cell], dtype="string")
    valid, flags = clean.parse_amenity_flags(cells)
    expected_valid, expected_flags = _expected(cells)
    assert valid.tolist() == expected_valid
    pd.testing.assert_frame_equal(flags, expected_flags)


def test_parse_amenity_flags_in_bulk_keeps_order_and_index() -> None:
    """Check a mixed column (plain and escaped cells interleaved) with a non-default index."""
    cells = pd.Series(CELLS * 50, dtype="string", index=range(1000, 1000 + 50 * len(CELLS)))
    valid, flags = clean.parse_amenity_flags(cells)
    expected_valid, expected_flags = _expected(cells)
    assert valid.tolist() == expected_valid
    pd.testing.assert_frame_equal(flags, expected_flags)
    assert valid.index.equals(cells.index)


def test_parse_amenity_flags_on_generated_lists() -> None:
    """Check json.dumps output of random item lists, with and without ASCII escaping."""
    import random

    rng = random.Random(0)
    words = ["TV", "Wifi", "Smart TV", "Elevator", "Café", "Kids’ books", 'say "hi"', "a\\b"]
    cells = [
        json.dumps(rng.sample(words, rng.randint(0, 4)), ensure_ascii=rng.random() < 0.5)
        for _ in range(500)
    ]
    series = pd.Series(cells, dtype="string")
    valid, flags = clean.parse_amenity_flags(series)
    expected_valid, expected_flags = _expected(series)
    assert valid.all() and valid.tolist() == expected_valid
    pd.testing.assert_frame_equal(flags, expected_flags)


def test_number_and_id_parsing_agree_with_pandas() -> None:
    """Check the Arrow fast path and its fallback give pandas' answers."""
    tidy = pd.Series(["1", "2.5", "-3", "1e3", "inf"], dtype="string")
    messy = pd.Series(["1", None, "x", " 2 ", "nan", "1,5"], dtype="string")
    for cells in (tidy, messy):
        expected = pd.to_numeric(cells, errors="coerce").astype("float64")
        pd.testing.assert_series_equal(clean.parse_number(cells), expected)
    big = pd.Series(["1234567890123456789", "2"], dtype="string")
    assert clean.parse_id(big).tolist() == [1234567890123456789, 2]
    assert clean.parse_id(pd.Series(["7", "7.5", None, "8.0", "z"])).tolist()[::3] == [7.0, 8.0]
