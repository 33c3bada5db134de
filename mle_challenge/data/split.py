"""Split the clean table into train, validation and test ids (stratified by category), and
the price edges its categories are cut by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from mle_challenge.data.airbnb_fields import MIN_PRICE, price_category
from mle_challenge.errors import DataValidationError

QUANTILES = (0.25, 0.5, 0.75)
# The fewest clean listings training takes: at the default 15% test and 15% validation shares,
# 100 give 15 test and 15 validation rows, the fewest from which a figure means anything and
# the gate has rows to judge. Fewer fail in fitting or in registration with internal errors.
MIN_LISTINGS = 100


@dataclass(frozen=True)
class SplitIds:
    """Listing ids per part. Test rows are used for nothing but the final figures."""

    train: list[int]
    validation: list[int]
    test: list[int]

    def to_dict(self) -> dict[str, list[int]]:
        return asdict(self)


def split_ids(table: pd.DataFrame, test_size: float, validation_size: float, seed: int) -> SplitIds:
    """Stratified three-way split of ``table`` by ``category``; sizes are shares of all rows."""
    ids, labels = table["id"], table["category"]
    stratify = labels if labels.value_counts().min() >= 3 else None
    rest_ids, test_ids, rest_labels, _ = train_test_split(
        ids, labels, test_size=test_size, random_state=seed, stratify=stratify
    )
    share = validation_size / (1.0 - test_size)
    strat_rest = rest_labels if stratify is not None else None
    train, validation = train_test_split(
        rest_ids, test_size=share, random_state=seed, stratify=strat_rest
    )
    return SplitIds(
        train=sorted(map(int, train)),
        validation=sorted(map(int, validation)),
        test=sorted(map(int, test_ids)),
    )


def price_edges(prices: pd.Series, rule: Sequence[float] | str) -> tuple[float, ...]:
    """The upper edges of Low, Mid and High: ``rule`` itself, or for ``quantile`` the
    quartiles of ``prices`` (rounded to whole units of the currency, as prices are quoted)."""
    if rule != "quantile":
        return tuple(float(e) for e in rule)
    quartiles = [round(float(q)) for q in prices.dropna().quantile(list(QUANTILES))]
    if len(prices.dropna()) < 4 or not (MIN_PRICE < quartiles[0] < quartiles[1] < quartiles[2]):
        raise DataValidationError(
            f"the training prices' quartiles {quartiles} cannot cut four categories (too few "
            "rows, or most listings at one price): set three increasing edges in params.yaml, "
            "prices.edges: [low, mid, high]"
        )
    return tuple(float(q) for q in quartiles)


def split_and_label(
    table: pd.DataFrame,
    rule: Sequence[float] | str,
    test_size: float,
    validation_size: float,
    seed: int,
) -> tuple[SplitIds, tuple[float, ...]]:
    """The split of ``table`` (``id`` and ``price``) and the price edges: stratified by the
    categories of ``rule``'s edges on all rows; for ``quantile``, the edges are then taken from
    the training rows alone, so that no test price shapes the categories the model learns."""
    check_enough_listings(len(table))
    edges = price_edges(table["price"], rule)
    labelled = table.assign(category=price_category(table["price"], edges))
    check_categories(labelled["category"], "listings")
    ids = split_ids(labelled, test_size, validation_size, seed)
    if rule == "quantile":
        edges = price_edges(table.loc[table["id"].isin(ids.train), "price"], rule)
        labelled = table.assign(category=price_category(table["price"], edges))
    by_id = labelled.set_index("id")["category"]
    for part, part_ids in (("training", ids.train), ("test", ids.test)):
        check_categories(by_id.loc[part_ids], f"{part} rows")
    return ids, edges


def check_enough_listings(rows: int) -> None:
    """Fail with one line, before any fitting, when there are too few listings to train on."""
    if rows < MIN_LISTINGS:
        raise DataValidationError(
            f"only {rows:,} listing(s) after cleaning; training needs at least {MIN_LISTINGS} "
            "(see the cleaning report for the rows dropped and why)"
        )


def check_categories(categories: pd.Series, rows: str) -> None:
    """Fail with one line when ``rows`` hold fewer than two price categories: a classifier
    needs two to learn anything, and ROC AUC two to be measured on the test rows."""
    present = sorted(map(str, categories.dropna().unique()))
    if len(present) < 2:
        found = f"one price category ({present[0]})" if present else "no price category"
        raise DataValidationError(
            f"all {len(categories):,} {rows} are in {found}; training needs at least two: "
            "give listings across the price range, or move prices.edges in params.yaml"
        )
