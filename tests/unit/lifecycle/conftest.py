"""Fixtures of the lifecycle tests: a BentoML home of each test's own, and a small model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A BentoML home of this test's own (the store and our state beside it)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    with (
        BentoMLContainer.bentoml_home.patch(str(tmp_path)),
        BentoMLContainer.model_store.patch(ModelStore(tmp_path / "models")),
    ):
        yield tmp_path


@pytest.fixture(scope="module")
def fitted() -> Any:
    """A small fitted pipeline (the notebook's forest, five trees), shared by the tests."""
    from mle_challenge.data.clean import clean_listings
    from mle_challenge.data.synthetic import generate_listings
    from mle_challenge.model.features import to_model_input
    from mle_challenge.model.train import fit_candidate

    table = clean_listings(generate_listings(300, seed=1).astype(str).replace("", None)).table
    spec = {"kind": "baseline_random_forest", "params": {"n_estimators": 5, "random_state": 0}}
    return fit_candidate(spec, to_model_input(table), table["category"])


def register_dummy(
    model: Any,
    fingerprint: str = "f1",
    name: str | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> str:
    """``model`` registered with made-up metrics (under ``name``, default the usual one)."""
    from mle_challenge.lifecycle import registry

    scores = {"accuracy": 0.5, "macro_f1": 0.5, "roc_auc_ovr": 0.5}
    return registry.register_model(
        model,
        fingerprint=fingerprint,
        candidate="dummy",
        metrics={"test": {**scores, "rows": 20}, "validation": scores},
        params={},
        data_fingerprint="d",
        report_path="none",
        extra_files=extra_files,
        **({"name": name} if name else {}),
    )
