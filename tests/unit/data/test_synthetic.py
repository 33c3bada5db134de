"""Unit tests for the synthetic demo listings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from mle_challenge.data.clean import (
    REQUIRED_COLUMNS,
    clean_listings,
    load_clean,
    parse_bathrooms_text,
)
from mle_challenge.data.synthetic import CITIES, LAYOUTS, SYNTH_COLUMNS, generate_listings

pytestmark = pytest.mark.unit


def test_deterministic_for_a_seed() -> None:
    """Check that the same rows and seed give the same listings, and another seed does not."""
    pd.testing.assert_frame_equal(generate_listings(300, 1), generate_listings(300, 1))
    assert not generate_listings(300, 1).equals(generate_listings(300, 2))


# SHA-256 of the CSV the CLI writes (``to_csv(index=False)``), taken before cities and layouts
# were added: the NYC demo data must stay byte for byte what trained models and docs were built on.
_NYC_CSV_SHA256 = [
    ((500, 0, 0, 0.0), "1a86c196f1801b6ef3b2a616288570909c5636b7cb2f4437a76d5e56c52e0756"),
    ((400, 7, 2, 0.5), "5ddd77d216976bfd951f007a645e7f95f51d158c1169aa5a23ca91be313536c9"),
]


@pytest.mark.parametrize(("args", "digest"), _NYC_CSV_SHA256)
def test_nyc_output_is_unchanged(args: tuple[int, int, int, float], digest: str) -> None:
    """Check that the default (NYC) output is byte for byte the file it has always been."""
    rows, seed, month, shift = args
    text = generate_listings(rows, seed, month=month, shift=shift).to_csv(index=False)
    assert hashlib.sha256(text.encode()).hexdigest() == digest


def test_raw_format() -> None:
    """Check the raw detailed format: its columns and string formats."""
    frame = generate_listings(500, 0)
    assert tuple(frame.columns) == SYNTH_COLUMNS
    assert set(REQUIRED_COLUMNS) <= set(frame.columns)
    assert frame["price"].str.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d").all()
    assert frame["amenities"].str.startswith("[").all()
    assert set(frame["neighbourhood_group_cleansed"]) <= {
        "Manhattan",
        "Brooklyn",
        "Queens",
        "Bronx",
        "Staten Island",
    }


def test_cleans_with_realistic_drops(synthetic_raw: pd.DataFrame) -> None:
    """Check that the demo data cleans, with missing values dropped at realistic rates."""
    result = clean_listings(synthetic_raw)
    assert 0.7 < result.report.rows_kept / result.report.rows_read < 0.98
    assert set(result.report.categories) == {"Low", "Mid", "High", "Lux"}


def test_price_depends_on_features(synthetic_raw: pd.DataFrame) -> None:
    """Check there is structure to learn: Manhattan homes cost more than Bronx rooms."""
    table = clean_listings(synthetic_raw).table
    homes = table[(table.neighbourhood == "Manhattan") & (table.room_type == "Entire home/apt")]
    rooms = table[(table.neighbourhood != "Manhattan") & (table.room_type == "Private room")]
    assert homes["price"].median() > 1.8 * rooms["price"].median()


def test_rejects_zero_rows() -> None:
    """Check that asking for no rows is an error naming the value."""
    with pytest.raises(ValueError, match="got 0"):
        generate_listings(0)


def _prices(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index("id")["price"].str.replace(r"[$,]", "", regex=True).astype(float)


def test_a_later_month_keeps_most_listings_and_reprices_them() -> None:
    """Check month 1 without a shift: about 95% of ids stay with the same features, their
    prices move a little, and newcomers get ids no earlier month used."""
    first, later = generate_listings(4000, 3), generate_listings(4000, 3, month=1)
    kept = first.merge(later, on="id", suffixes=("", "_later"))
    assert 0.93 < len(kept) / len(first) < 0.97
    same = ["room_type", "latitude", "accommodates", "amenities", "neighbourhood_group_cleansed"]
    for column in same:
        assert (kept[column] == kept[f"{column}_later"]).all(), column
    ratio = (_prices(later) / _prices(first)).dropna()
    ratio = ratio[(ratio > 0) & (ratio < float("inf"))]
    assert 0.97 < ratio.median() < 1.03 and ratio.std() > 0.02
    assert later["id"].is_unique and not later["id"].isin(first["id"]).all()


def test_months_follow_each_other() -> None:
    """Check that month 2 is month 1 a month later: listings of month 1 are in month 2 as
    they were, and a shift replaces a further share each month."""
    one, two = (
        generate_listings(3000, 4, month=1, shift=0.5),
        generate_listings(3000, 4, month=2, shift=0.5),
    )
    kept = one.merge(two, on="id", suffixes=("", "_2"))
    assert 0.40 < len(kept) / len(one) < 0.50  # 55% replaced a month
    assert (kept["room_type"] == kept["room_type_2"]).all()
    assert (_prices(two).loc[kept["id"]] / _prices(one).loc[kept["id"]]).median() > 1.2


def test_a_shift_moves_the_mix_and_the_prices() -> None:
    """Check what `shift` promises: more entire homes and Manhattan, more guests, dearer."""
    still = generate_listings(4000, 5, month=1)
    moved = generate_listings(4000, 5, month=1, shift=0.5)

    def share(frame: pd.DataFrame, column: str, value: str) -> float:
        return float((frame[column] == value).mean())

    assert (
        share(moved, "room_type", "Entire home/apt")
        > share(still, "room_type", "Entire home/apt") + 0.1
    )
    manhattan = ("neighbourhood_group_cleansed", "Manhattan")
    assert share(moved, *manhattan) > share(still, *manhattan) + 0.1
    assert moved["accommodates"].mean() > still["accommodates"].mean() + 0.3
    assert _prices(moved).median() > 1.25 * _prices(still).median()


def test_month_and_shift_are_checked() -> None:
    """Check the errors: a shift without a later month, a negative month, too large a shift."""
    with pytest.raises(ValueError, match="month=1"):
        generate_listings(10, shift=0.3)
    with pytest.raises(ValueError, match="month must be"):
        generate_listings(10, month=-1)
    with pytest.raises(ValueError, match=r"between 0 and 0\.9"):
        generate_listings(10, month=1, shift=2.0)


# --- other cities ---


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` cleaned as if read from a file (every cell a string, empty cells missing)."""
    return clean_listings(frame.astype(str).replace("", None)).table


def test_boston_has_no_groups_and_cleans_by_neighbourhood() -> None:
    """Check Boston: an empty group column, its own neighbourhoods, and cleaning falls back to
    ``neighbourhood_cleansed`` with no row dropped for a missing neighbourhood."""
    frame = generate_listings(400, 2, city="boston")
    assert (frame["neighbourhood_group_cleansed"] == "").all()
    assert set(frame["neighbourhood_cleansed"]) == set(CITIES["boston"].areas)
    result = clean_listings(frame.astype(str).replace("", None))
    assert "missing neighbourhood" not in result.report.dropped
    places = frame.set_index("id")["neighbourhood_cleansed"]
    table = result.table
    assert (table["neighbourhood"] == places.loc[table["id"]].to_numpy()).all()


def test_boston_has_no_shared_rooms() -> None:
    """Check Boston's room mix: no shared rooms, mostly entire homes."""
    rooms = generate_listings(2000, 3, city="boston")["room_type"]
    assert not (rooms == "Shared room").any()
    assert (rooms == "Entire home/apt").mean() > 0.6


@pytest.mark.parametrize("city", ["boston", "zurich"])
def test_coordinates_in_the_city_box(city: str) -> None:
    """Check that every listing of a clipped city lies in its box, and near each other."""
    frame = generate_listings(2000, 4, city=city)
    south, north, west, east = CITIES[city].box
    assert frame["latitude"].between(south, north).all()
    assert frame["longitude"].between(west, east).all()


def test_nyc_coordinates_mostly_in_the_city_box() -> None:
    """Check NYC, whose coordinates are unclipped to stay as they were: nearly all in its box."""
    frame = generate_listings(2000, 4)
    south, north, west, east = CITIES["nyc"].box
    inside = frame["latitude"].between(south, north) & frame["longitude"].between(west, east)
    assert inside.mean() > 0.97


def test_zurich_groups_by_district_and_costs_more() -> None:
    """Check Zurich: its twelve districts as groups, CHF prices dearer than NYC's numbers."""
    frame = generate_listings(2000, 5, city="zurich")
    assert set(frame["neighbourhood_group_cleansed"]) == set(CITIES["zurich"].areas)
    nyc = _clean(generate_listings(2000, 5))
    assert _clean(frame)["price"].median() > 1.3 * nyc["price"].median()


def test_unknown_city_names_the_choices() -> None:
    """Check that an unknown city is an error listing the known ones."""
    with pytest.raises(ValueError, match="nyc, boston, zurich; got 'paris'"):
        generate_listings(10, city="paris")


# --- the layouts of other years' files ---

_FULL_LAYOUTS = [name for name in LAYOUTS if name != "minimal"]


@pytest.mark.parametrize("name", _FULL_LAYOUTS)
def test_layout_has_its_column_count(name: str) -> None:
    """Check that each full layout has as many distinct columns as its name says, with every
    column cleaning needs."""
    frame = generate_listings(50, 0, layout=name)
    assert frame.shape[1] == int(name) == frame.columns.nunique()
    assert set(REQUIRED_COLUMNS) <= set(frame.columns)


@pytest.mark.parametrize("city", list(CITIES))
@pytest.mark.parametrize("name", _FULL_LAYOUTS)
def test_every_layout_cleans_like_the_minimal_one(tmp_path: Path, city: str, name: str) -> None:
    """Check that a file of any layout, read from disk, cleans to exactly the table of the
    minimal layout: no row dropped or changed for a layout reason."""
    paths = {}
    for layout in ("minimal", name):
        paths[layout] = tmp_path / f"{layout}.csv.gz"
        generate_listings(300, 9, month=1, city=city, layout=layout).to_csv(
            paths[layout], index=False
        )
    expected, got = load_clean(str(paths["minimal"])), load_clean(str(paths[name]))
    assert got.report.rows_read == 300
    assert got.report.dropped == expected.report.dropped
    pd.testing.assert_frame_equal(got.table, expected.table)


@pytest.mark.parametrize("name", _FULL_LAYOUTS)
def test_layout_bathrooms_and_source(name: str) -> None:
    """Check the differences that matter to cleaning: `bathrooms` filled with the text's number
    or empty, and a `source` column from 2022 on."""
    frame = generate_listings(300, 1, layout=name)
    filled = frame["bathrooms"] != ""
    assert filled.any() == LAYOUTS[name].bathrooms_filled
    if filled.any():
        number = parse_bathrooms_text(frame["bathrooms_text"].replace("", None))
        assert (filled == (frame["bathrooms_text"] != "")).all()
        assert (frame.loc[filled, "bathrooms"].astype(float) == number[filled]).all()
    assert ("source" in frame) == (name in {"75", "79"})


def test_zurich_quarters_lie_in_their_district() -> None:
    """Check that each Zurich listing's quarter is one of its district's."""
    frame = generate_listings(1000, 5, city="zurich", layout="74")
    places = CITIES["zurich"].places
    pairs = frame[["neighbourhood_group_cleansed", "neighbourhood_cleansed"]].drop_duplicates()
    for group, place in pairs.itertuples(index=False):
        assert place in {name for name, _, _ in places[group]}, (group, place)


def test_unknown_layout_names_the_choices() -> None:
    """Check that an unknown layout is an error listing the known ones."""
    with pytest.raises(ValueError, match="minimal, 74, 75, 79, 90; got '76'"):
        generate_listings(10, layout="76")


def test_cli_offers_every_city_and_layout() -> None:
    """Check that `data synth --city/--layout` list exactly the generator's choices (the CLI
    names them itself so as not to import pandas to build its help)."""
    from mle_challenge.cli import data_synth

    choices = {p.name: list(getattr(p.type, "choices", [])) for p in data_synth.params}
    assert choices["city"] == list(CITIES)
    assert choices["layout"] == list(LAYOUTS)
