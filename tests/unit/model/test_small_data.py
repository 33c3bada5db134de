"""Too few listings, or one price category: one clear line from the split, before any fit."""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pandas as pd
import pytest

from mle_challenge.data.split import MIN_LISTINGS, split_and_label
from mle_challenge.errors import ConfigError, DataValidationError, MleError
from mle_challenge.lifecycle import failures

pytestmark = pytest.mark.unit


def _table(prices: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(len(prices)) + 1, "price": prices})


def test_too_few_listings_name_the_count_and_the_minimum() -> None:
    with pytest.raises(DataValidationError) as caught:
        split_and_label(_table([50.0, 100.0, 200.0, 500.0] * 2 + [60.0, 70.0]), [90, 180, 400],
                        0.15, 0.15, 1)  # fmt: skip
    message = str(caught.value)
    assert message.startswith(
        f"only 10 listing(s) after cleaning; training needs at least {MIN_LISTINGS}"
    )
    assert "\n" not in message


def test_one_price_category_is_named() -> None:
    with pytest.raises(DataValidationError, match=r"all 451 listings are in one price category "
                       r"\(Low\); training needs at least two"):  # fmt: skip
        split_and_label(_table([50.0] * 451), [90, 180, 400], 0.15, 0.15, 1)


def test_a_test_part_of_one_category_is_refused() -> None:
    # One High listing among 199 Low: it lands in the training rows, none in the test rows.
    prices = [50.0] * 199 + [200.0]
    with pytest.raises(DataValidationError, match=r"test rows are in one price category \(Low\)"):
        split_and_label(_table(prices), [90, 180, 400], 0.15, 0.15, 1)


def test_enough_listings_of_two_categories_split() -> None:
    ids, edges = split_and_label(_table([50.0] * 60 + [150.0] * 40), [90, 180, 400], 0.15, 0.15, 1)
    assert len(ids.train) + len(ids.validation) + len(ids.test) == 100
    assert edges == (90.0, 180.0, 400.0)


def test_our_error_crosses_the_scheduler_as_one_line_of_its_own_type() -> None:
    expl = failures.explain(ConfigError("lower `decision: folds`"))
    assert expl is not None and "\n" not in expl
    for sent in (expl, json.dumps(expl)):  # as sent, and as the scheduler may encode it
        back = failures.from_explanation(sent)
        assert isinstance(back, ConfigError) and str(back) == "lower `decision: folds`"
    assert failures.explain(ValueError("a bug")) is None  # a bug keeps Luigi's traceback
    assert failures.from_explanation("Traceback (most recent call last): ...") is None


class _Scheduler:
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors

    def task_list(self, status: str, upstream: str) -> dict[str, object]:
        assert status == "FAILED"
        return {key: {} for key in self.errors}

    def fetch_error(self, task_id: str) -> dict[str, str]:
        return {"error": self.errors[task_id]}


class _Worker:
    def __init__(self, errors: dict[str, str]) -> None:
        self._scheduler = _Scheduler(errors)


def test_the_failed_tasks_error_is_raised_again_and_a_bug_is_not() -> None:
    ours = failures.explain(DataValidationError("only 10 listing(s)"))
    assert ours is not None
    with pytest.raises(DataValidationError, match="only 10"):
        failures.raise_task_error(_Worker({"A": "Traceback ...", "B": ours}))
    failures.raise_task_error(_Worker({"A": "Traceback ..."}))  # nothing of ours: no raise


def test_luigis_traceback_of_our_error_is_dropped() -> None:
    failures.quiet_our_errors()
    failures.quiet_our_errors()  # idempotent
    logger = logging.getLogger("luigi-interface")
    assert sum(isinstance(f, type(failures._FILTER)) for f in logger.filters) == 1
    for exc, shown in ((MleError("x"), False), (ValueError("y"), True)):
        try:
            raise exc
        except Exception:
            record = logger.makeRecord("luigi-interface", logging.ERROR, "f", 1, "failed", (),
                                       sys.exc_info())  # fmt: skip
        assert failures._FILTER.filter(record) is shown
