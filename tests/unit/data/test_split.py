"""The split and the price edges its categories are cut by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mle_challenge.config import PricesParams
from mle_challenge.data.split import price_edges, split_and_label
from mle_challenge.errors import DataValidationError

pytestmark = pytest.mark.unit


def _table(rows: int = 2000, scale: float = 1.0) -> pd.DataFrame:
    prices = np.round(np.random.default_rng(0).lognormal(4.8, 0.6, rows) * scale)
    return pd.DataFrame({"id": np.arange(rows) + 100, "price": np.maximum(prices, 10.0)})


def test_fixed_edges_are_the_params_and_the_split_is_stratified_by_them() -> None:
    table = _table()
    ids, edges = split_and_label(table, [90.0, 180.0, 400.0], 0.15, 0.15, 1)
    assert edges == (90.0, 180.0, 400.0)
    assert len(ids.train) + len(ids.validation) + len(ids.test) == len(table)


def test_quantile_edges_come_from_the_training_prices_alone() -> None:
    table = _table(scale=1.2)  # another currency: the same four categories, in quarters
    ids, edges = split_and_label(table, "quantile", 0.15, 0.15, 1)
    train = table[table["id"].isin(ids.train)]["price"]
    assert edges == tuple(float(round(q)) for q in train.quantile([0.25, 0.5, 0.75]))
    assert edges != price_edges(table["price"].head(500), "quantile")
    shares = pd.cut(train, [0, *edges, np.inf]).value_counts(normalize=True)
    assert shares.between(0.2, 0.3).all()


def test_quartiles_that_cannot_cut_four_categories_say_what_to_set() -> None:
    same = pd.Series([100.0] * 50 + [120.0] * 3)
    with pytest.raises(DataValidationError, match=r"prices.edges: \[low, mid, high\]"):
        price_edges(same, "quantile")


@pytest.mark.parametrize(
    ("edges", "words"),
    [
        ([90, 180], "three nightly prices"),
        ([90, 80, 400], "must increase"),
        ([5, 80, 400], "above 10"),
    ],
)
def test_bad_edges_in_params_are_named(edges: list[int], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        PricesParams(edges=edges)
    assert PricesParams(edges="quantile").edges == "quantile"
