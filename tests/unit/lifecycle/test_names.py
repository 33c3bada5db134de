"""Several cities in one store: the model-name rule, and one production alias and history per
name, each moved only by promotions and rollbacks of its own name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mle_challenge.config import check_model_name, get_settings, load_params
from mle_challenge.errors import ConfigError
from mle_challenge.lifecycle import production, shared, store
from tests.unit.lifecycle.conftest import register_dummy

pytestmark = pytest.mark.unit

NYC, BOSTON = "price_classifier", "price_classifier_boston"


@pytest.mark.parametrize("name", [NYC, BOSTON, "price-classifier.v2", "a", "0", "x" * 63])
def test_bentoml_tag_names_are_accepted(name: str) -> None:
    """Check that every name BentoML accepts as a tag's name is a model name."""
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["Boston", "price classifier", "_boston", "boston_", "boston-", "../nyc", "", "x" * 64]
)
def test_other_names_are_refused_with_the_rule(name: str) -> None:
    """Check that a name BentoML would refuse (or a path) fails first, saying the rule."""
    with pytest.raises(ConfigError, match=r"invalid model name .*lowercase letters, digits"):
        check_model_name(name)


def test_params_with_a_bad_name_name_the_key_and_the_rule(tmp_path: Path) -> None:
    """Check that register.model_name is checked by the same rule, naming the key."""
    path = tmp_path / "params.yaml"
    path.write_text("train: {candidates: {a: {kind: baseline_random_forest}}}\n"
                    "register: {model_name: Boston}\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"register\.model_name: invalid model name 'Boston'"):
        load_params(path)


def test_a_bad_mle_model_name_is_a_clear_setting_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that MLE_MODEL_NAME is checked too, and that empty means the default."""
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("MLE_MODEL_NAME", "Boston")
        with pytest.raises(ConfigError, match=r"MLE_MODEL_NAME: invalid model name 'Boston'"):
            get_settings()
        monkeypatch.setenv("MLE_MODEL_NAME", "")
        get_settings.cache_clear()
        assert get_settings().model_name is None
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("command", [["train", "--listings", "x.csv"], ["rollback"]])
def test_the_cli_refuses_a_bad_name_before_any_work(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that --model-name is checked as it is parsed: exit 2 and the rule."""
    from mle_challenge.cli import main

    assert main([*command, "--model-name", "Boston"]) == 2
    assert "invalid model name 'Boston'" in capsys.readouterr().err


def test_the_shared_registry_keeps_one_alias_object_per_name() -> None:
    """Check that each name has its own alias key on S3, and that a bad name is no key."""
    found = shared.S3AliasStore(BOSTON, "s3://bucket/reg")
    assert (found.bucket, found.key) == ("bucket", f"reg/aliases/{BOSTON}/production.json")
    with pytest.raises(ConfigError, match="invalid model name"):
        shared.S3AliasStore("../price_classifier", "s3://bucket/reg")


def _gated(model: Any, fingerprint: str, name: str) -> str:
    """``model`` registered under ``name`` with a passed gate, ready to promote."""
    tag = register_dummy(model, fingerprint, name)
    store.update_card(tag, gate={"passed": True, "checks": []})
    return tag


def test_each_name_has_its_own_alias_and_history(home: Path, fitted: Any) -> None:
    """Check that promotions and rollbacks of one name leave the other's alias, history and
    model list alone, even for the same model trained from the same inputs."""
    nyc = _gated(fitted, "same-inputs", NYC)
    boston1 = _gated(fitted, "same-inputs", BOSTON)  # not adopted across names
    boston2 = _gated(fitted, "later", BOSTON)
    assert len({nyc, boston1, boston2}) == 3 and boston1.startswith(f"{BOSTON}:")

    production.promote(nyc, reason="nyc")
    production.promote(boston1, reason="boston 1")
    production.promote(boston2, reason="boston 2")
    assert production.production_tag(NYC) == nyc
    assert production.production_tag(BOSTON) == boston2
    assert [e["to"] for e in production.history(BOSTON)] == [boston1, boston2]
    assert [e["to"] for e in production.history(NYC)] == [nyc]

    assert production.rollback(BOSTON).tag == boston1
    assert production.production_tag(NYC) == nyc
    with pytest.raises(production.PromotionError, match=f"{NYC} has no earlier"):
        production.rollback(NYC)
    assert production.production_tag(BOSTON) == boston1
    assert [e["action"] for e in production.history(BOSTON)] == ["promote", "promote", "rollback"]

    rows = production.listing(BOSTON).rows
    assert {r["tag"] for r in rows} == {boston1, boston2}
    assert [r["tag"] for r in rows if r["production"]] == [boston1]
    assert [r["tag"] for r in production.listing(NYC).rows] == [nyc]
    assert (home / "mle_challenge" / "aliases" / BOSTON / "history.jsonl").is_file()


def test_serving_from_source_picks_the_named_production(home: Path, fitted: Any) -> None:
    """Check that MLE_MODEL_NAME picks whose production model is served when MLE_MODEL_TAG is
    unset, and that a tag of another name is refused rather than served."""
    from mle_challenge.serving.runtime import served_model_tag

    nyc = _gated(fitted, "n", NYC)
    boston = _gated(fitted, "b", BOSTON)
    _gated(fitted, "b-newer", BOSTON)  # newer, not production: production wins over latest
    production.promote(nyc)
    production.promote(boston)
    assert served_model_tag(None, BOSTON) == boston
    assert served_model_tag(None, None) == nyc
    assert served_model_tag(nyc, None) == nyc
    with pytest.raises(ConfigError, match=f"MLE_MODEL_NAME={BOSTON} but MLE_MODEL_TAG is {nyc}"):
        served_model_tag(nyc, BOSTON)


def test_batch_predicts_with_the_named_production(home: Path, fitted: Any, tmp_path: Path) -> None:
    """Check that predict_file without a tag uses ``model_name``'s production model."""
    import pandas as pd

    from mle_challenge.batch.predict import predict_file
    from mle_challenge.data.synthetic import generate_listings
    from mle_challenge.errors import DataValidationError

    production.promote(_gated(fitted, "n", NYC))
    boston = _gated(fitted, "b", BOSTON)
    listings = tmp_path / "listings.csv"
    generate_listings(50, seed=2).to_csv(listings, index=False)
    with pytest.raises(DataValidationError, match=f"no production model of {BOSTON}"):
        predict_file(str(listings), str(tmp_path / "out.csv"), model_name=BOSTON)
    production.promote(boston)
    report = predict_file(str(listings), str(tmp_path / "out.csv"), model_name=BOSTON)
    assert report.model == boston
    assert set(pd.read_csv(tmp_path / "out.csv")["model"]) == {boston}
