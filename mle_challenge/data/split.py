"""Split the clean table into train, validation and test ids (stratified by category)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
from sklearn.model_selection import train_test_split


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
