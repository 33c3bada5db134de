"""Two of the gate's checks. No regression: a new model is compared with production on the
test rows production was not trained on (monthly scrapes share most listings, and on those
production would be judged on what it memorised). Invariance: another id gives the same
answer, to float rounding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mle_challenge.config import GateParams
from mle_challenge.lifecycle import registry
from mle_challenge.lifecycle.gate import no_regression
from mle_challenge.lifecycle.registry import TRAINED_IDS_FILE
from mle_challenge.model.evaluate import classification_metrics
from mle_challenge.model.features import API_FEATURES, to_model_input
from mle_challenge.model.predictor import Predictor
from tests.unit.lifecycle.conftest import register_dummy

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    from mle_challenge.data.clean import clean_listings
    from mle_challenge.data.synthetic import generate_listings

    raw = generate_listings(600, seed=2).astype(str).replace("", None)
    rows = clean_listings(raw).table.reset_index(drop=True)
    return to_model_input(rows).assign(id=rows["id"], category=rows["category"].astype(str))


def _register(model: Any, fingerprint: str, trained: list[int] | None) -> str:
    ids = {} if trained is None else {TRAINED_IDS_FILE: registry.trained_ids_bytes(trained)}
    return register_dummy(model, fingerprint, extra_files=ids)


def _macro_f1(tag: str, rows: pd.DataFrame) -> str:
    pipeline = Predictor.load(tag).pipeline
    found = classification_metrics(pipeline, rows.loc[:, list(API_FEATURES)], rows["category"])
    return f"{float(found['macro_f1']):.4f}"


def test_compared_on_the_rows_production_did_not_train_on(
    home: Path, fitted: Any, held_out: pd.DataFrame
) -> None:
    ids = held_out["id"].tolist()
    production = _register(fitted, "production", trained=ids[::2])  # half the test rows
    assert registry.trained_ids(production).tolist() == sorted(set(ids[::2]))
    check = no_regression(Predictor.load(production), held_out, GateParams(), production)
    unseen = held_out[~held_out["id"].isin(ids[::2])]
    assert check.passed and not check.skipped
    assert check.figure == _macro_f1(production, unseen) != _macro_f1(production, held_out)
    assert f"on the {len(unseen):,} of {len(held_out):,} test rows it was not trained on" in (
        check.detail
    )


def test_too_few_unseen_rows_skip_the_comparison_with_the_reason(
    home: Path, fitted: Any, held_out: pd.DataFrame
) -> None:
    ids = held_out["id"].tolist()
    production = _register(fitted, "mostly-seen", trained=ids[50:])
    check = no_regression(Predictor.load(production), held_out, GateParams(), production)
    assert check.passed and check.skipped and check.figure == "-"
    assert "only 50 of the" in check.detail and "gate.min_unseen_rows 200" in check.detail


def test_a_production_model_without_its_training_ids_is_compared_on_every_row(
    home: Path, fitted: Any, held_out: pd.DataFrame
) -> None:
    production = _register(fitted, "legacy", trained=None)
    assert registry.trained_ids(production) is None
    check = no_regression(Predictor.load(production), held_out, GateParams(), production)
    assert check.figure == _macro_f1(production, held_out)
    assert "test rows" not in check.detail


class _Answers:
    def __init__(self, labels: list[str], probabilities: Any) -> None:
        self.labels, self.probabilities = labels, probabilities


class _Predictor:
    """Answers by the listing's size; ``noise``: float rounding as a forest's threads give;
    ``by_id``: an answer that (wrongly) depends on the id."""

    def __init__(self, noise: float = 0.0, by_id: bool = False) -> None:
        self.noise, self.by_id = noise, by_id

    def predict_records(self, records: list[dict[str, Any]]) -> _Answers:
        import numpy as np

        big = [r["accommodates"] > 3 or (self.by_id and r["id"] % 2 == 1) for r in records]
        proba = np.array([[0.1, 0.2, 0.3, 0.4] if b else [0.4, 0.3, 0.2, 0.1] for b in big])
        return _Answers(["Lux" if b else "Low" for b in big], proba + self.noise)


def test_invariance_allows_float_rounding_and_catches_an_answer_that_reads_the_id() -> None:
    from mle_challenge.lifecycle.gate import invariance

    records = [{"id": i, "accommodates": a} for i, a in enumerate([2, 4, 2, 6, 1, 2], start=2)]
    base = _Predictor().predict_records(records)
    assert invariance(_Predictor(noise=1e-16), records, base).passed
    assert not invariance(_Predictor(noise=1e-3), records, base).passed
    tagged = _Predictor(by_id=True)
    assert not invariance(tagged, records, tagged.predict_records(records)).passed
