"""Unit tests for the cleaning functions in mle_challenge.data.clean."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.data import clean
from mle_challenge.errors import DataValidationError

pytestmark = pytest.mark.unit


def _series(*values: object) -> pd.Series:
    return pd.Series(list(values), dtype="object")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$75.00", 75.0),
        ("$1,250.00", 1250.0),
        ("$12,345.50", 12345.5),
        ("75", 75.0),
        ("  $99.99 ", 99.99),
        ("$0.00", 0.0),
    ],
)
def test_parse_price_valid(raw: str, expected: float) -> None:
    """Check that raw price strings, thousands separators included, parse to dollars."""
    assert clean.parse_price(_series(raw))[0] == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["", "free", "$", "$1,25.00", "€75.00", "$-5.00", None, "1.2.3"])
def test_parse_price_invalid_is_nan(raw: object) -> None:
    """Check that text that is not a price gives NaN rather than a wrong number."""
    assert math.isnan(clean.parse_price(_series(raw))[0])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1 bath", 1.0),
        ("1.5 shared baths", 1.5),
        ("2 private baths", 2.0),
        ("0 baths", 0.0),
        ("Half-bath", 0.5),
        ("Shared half-bath", 0.5),
        ("Private half-bath", 0.5),
    ],
)
def test_parse_bathrooms_text(raw: str, expected: float) -> None:
    """Check bathrooms_text parsing, half-baths included (the notebook gave NaN)."""
    assert clean.parse_bathrooms_text(_series(raw))[0] == expected


@pytest.mark.parametrize("raw", [None, "", "many baths"])
def test_parse_bathrooms_text_unparseable(raw: object) -> None:
    """Check that bathrooms_text without a number or 'half' gives NaN."""
    assert math.isnan(clean.parse_bathrooms_text(_series(raw))[0])


def test_parse_bathrooms_falls_back_to_numeric_column() -> None:
    """Check that the numeric bathrooms column fills in where bathrooms_text is empty."""
    frame = pd.DataFrame({"bathrooms_text": ["2 baths", None], "bathrooms": [None, "1.5"]})
    assert clean.parse_bathrooms(frame).tolist() == [2.0, 1.5]


def test_parse_bathrooms_without_text_column() -> None:
    """Check that older files with only a numeric bathrooms column still parse."""
    frame = pd.DataFrame({"bathrooms": ["1", "2.5"]})
    assert clean.parse_bathrooms(frame).tolist() == [1.0, 2.5]


def test_parse_amenities() -> None:
    """Check that amenities parse as JSON lists, empty cells as [] and garbage as None."""
    parsed = clean.parse_amenities(_series('["Wifi", "TV"]', None, "{Wifi,TV}", '["ok", 3]', "[]"))
    assert parsed.tolist() == [["Wifi", "TV"], [], None, None, []]


def test_amenity_flags_match_within_items() -> None:
    """Check that flags match inside an item ('HDTV with Netflix' is a TV), as the notebook did."""
    flags = clean.amenity_flags(pd.Series([["HDTV with Netflix", "Wifi – 300 Mbps"], [], None]))
    assert flags["TV"].tolist() == [1, 0, 0]
    assert flags["Wifi"].tolist() == [1, 0, 0]
    assert flags["Elevator"].tolist() == [0, 0, 0]
    assert list(flags.columns) == list(clean.AMENITY_FLAGS)


def test_resolve_neighbourhood_falls_back() -> None:
    """Check that an empty borough falls back to neighbourhood_cleansed."""
    frame = pd.DataFrame(
        {
            "neighbourhood_group_cleansed": ["Brooklyn", None, "  "],
            "neighbourhood_cleansed": ["Williamsburg", "Harlem", "Astoria"],
        }
    )
    assert clean.resolve_neighbourhood(frame).tolist() == ["Brooklyn", "Harlem", "Astoria"]


def test_resolve_neighbourhood_without_group_column() -> None:
    """Check that a city file without the group column uses neighbourhood_cleansed."""
    frame = pd.DataFrame({"neighbourhood_cleansed": ["Mitte"]})
    assert clean.resolve_neighbourhood(frame).tolist() == ["Mitte"]


@pytest.mark.parametrize(
    ("price", "category"),
    [
        (10.0, "Low"),
        (90.0, "Low"),
        (90.01, "Mid"),
        (180.0, "Mid"),
        (400.0, "High"),
        (400.5, "Lux"),
        (1250.0, "Lux"),
    ],
)
def test_price_category_bins(price: float, category: str) -> None:
    """Check the right-closed bins, with exactly $10 in Low (the notebook gave it none)."""
    assert clean.price_category(pd.Series([price]))[0] == category


def test_price_category_below_minimum_is_missing() -> None:
    """Check that prices below $10 get no category."""
    assert clean.price_category(pd.Series([9.99])).isna().all()


def _raw_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "1",
        "neighbourhood_group_cleansed": "Brooklyn",
        "property_type": "Entire rental unit",
        "room_type": "Entire home/apt",
        "latitude": "40.7",
        "longitude": "-73.9",
        "accommodates": "2",
        "bathrooms": None,
        "bathrooms_text": "1 bath",
        "bedrooms": "1",
        "beds": "1",
        "amenities": '["TV"]',
        "price": "$100.00",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"price": "$5.00"}, "price below $10"),
        ({"price": "call me"}, "unparseable price"),
        ({"price": None}, "missing price"),
        ({"bedrooms": None}, "missing bedrooms"),
        ({"beds": "two"}, "unparseable beds"),
        ({"bathrooms_text": None}, "missing bathrooms"),
        ({"amenities": "{TV}"}, "amenities not a JSON list of strings"),
        ({"room_type": ""}, "missing room_type"),
        ({"neighbourhood_group_cleansed": None}, "missing neighbourhood"),
        ({"latitude": "north"}, "unparseable latitude"),
        ({"latitude": "40721"}, "latitude out of range [-90, 90]"),
        ({"longitude": "-739.9"}, "longitude out of range [-180, 180]"),
        ({"beds": "-1"}, "negative count"),
    ],
)
def test_clean_drops_bad_rows_with_reason(overrides: dict[str, object], reason: str) -> None:
    """Check that each kind of bad row is dropped, counted under its reason, with an example."""
    raw = pd.DataFrame([_raw_row(), _raw_row(id="2", **overrides)])
    result = clean.clean_listings(raw)
    assert result.table["id"].tolist() == [1]
    assert result.report.dropped == {reason: 1}
    assert result.report.examples[reason][0].startswith("id=2")
    assert reason in result.report.format()


def test_clean_unparseable_id() -> None:
    """Check that a row whose id is not a number is dropped under its reason."""
    raw = pd.DataFrame([_raw_row(), _raw_row(id="abc")])
    assert clean.clean_listings(raw).report.dropped == {"unparseable id": 1}


def test_clean_duplicate_id_keeps_first() -> None:
    """Check that a repeated id is dropped as a duplicate, keeping its first row."""
    raw = pd.DataFrame([_raw_row(price="$50.00"), _raw_row(price="$500.00")])
    result = clean.clean_listings(raw)
    assert result.table["price"].tolist() == [50.0]
    assert result.report.dropped == {"duplicate id": 1}


def test_clean_values_and_types() -> None:
    """Check the clean table's columns, values and the fixes for $1,000+ and half-baths."""
    raw = pd.DataFrame(
        [_raw_row(price="$1,250.00", bathrooms_text="Shared half-bath", amenities='["HDTV"]')]
    )
    table = clean.clean_listings(raw).table
    assert list(table.columns) == list(clean.CLEAN_COLUMNS)
    row = table.iloc[0]
    assert (row["price"], row["category"], row["category_code"]) == (1250.0, "Lux", 3)
    assert row["bathrooms"] == 0.5
    assert row["TV"] == 1
    assert table["accommodates"].dtype == "int64"


def test_clean_does_not_mutate_input() -> None:
    """Check that cleaning leaves the raw frame it was given untouched."""
    raw = pd.DataFrame([_raw_row(), _raw_row(id="2", price="bad")])
    before = raw.copy()
    clean.clean_listings(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_missing_columns_named() -> None:
    """Check that a file without required columns fails naming each missing column."""
    raw = pd.DataFrame([_raw_row()]).drop(
        columns=["price", "amenities", "bathrooms_text", "bathrooms"]
    )
    with pytest.raises(DataValidationError) as info:
        clean.clean_listings(raw, source="x.csv")
    message = str(info.value)
    for column in ("price", "amenities", "bathrooms_text or bathrooms", "x.csv"):
        assert column in message


def test_empty_result_is_an_error() -> None:
    """Check that a file whose every row is bad is an error, with the reasons."""
    raw = pd.DataFrame([_raw_row(price="$1.00")])
    with pytest.raises(DataValidationError, match=r"(?s)no usable rows.*price below"):
        clean.clean_listings(raw)


def test_report_counts_add_up(synthetic_raw: pd.DataFrame) -> None:
    """Check that kept plus dropped-by-reason equals rows read: nothing lost silently."""
    report = clean.clean_listings(synthetic_raw).report
    assert report.rows_kept + sum(report.dropped.values()) == report.rows_read
    assert sum(report.categories.values()) == report.rows_kept


@pytest.mark.parametrize(
    ("cell", "reason"),
    [(None, "missing id"), ("", "unparseable id"), ("99999999999999999999999", "unparseable id")],
)
def test_clean_drops_odd_ids_with_a_reason(cell: object, reason: str) -> None:
    """Check that an empty id, or one past int64, is dropped with its reason (they raised
    IntCastingNaNError and TypeError), and the other rows' 19-digit ids stay exact."""
    raw = pd.DataFrame([_raw_row(id="1234567890123456789"), _raw_row(id=cell)])
    result = clean.clean_listings(raw)
    assert result.table["id"].tolist() == [1234567890123456789]
    assert result.report.dropped == {reason: 1}


@pytest.mark.parametrize(
    "text", ["it may be 1 or 2 bathrooms", "1-2 baths", "2 baths (1 shared)", "many baths"]
)
def test_clean_drops_a_bathroom_count_that_is_not_one(text: str) -> None:
    """Check that bathrooms_text that is not one count is dropped with a reason and counted in
    the summary, not read as its first number (it was kept as 1.0), even with a numeric
    bathrooms column beside it."""
    raw = pd.DataFrame([_raw_row(), _raw_row(id="2", bathrooms_text=text, bathrooms="1")])
    result = clean.clean_listings(raw)
    assert result.table["id"].tolist() == [1]
    assert result.report.dropped == {clean.BATHROOMS_TEXT_UNCLEAR: 1}
    assert f"bathrooms_text={text!r}" in result.report.format()


def test_load_clean_counts_malformed_lines(tmp_path: Path) -> None:
    """Check that a line with the wrong number of fields is read, dropped and counted under
    its reason (pandas filled a short line with NaN, and refused a long one)."""
    import csv

    path = tmp_path / "l.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(_raw_row()))
        writer.writeheader()
        writer.writerow(_raw_row())
    with path.open("a") as handle:
        handle.write("2,Brooklyn\n")
    report = clean.load_clean(str(path)).report
    assert (report.rows_read, report.rows_kept) == (2, 1)
    assert report.dropped == {"malformed CSV row: 2 fields where the header has 13": 1}
