"""Unit tests: a bento is named after the model it serves, and the newest bento is one of that
model's, not whichever was built last."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mle_challenge.errors import RegistryError
from mle_challenge.lifecycle import registry
from mle_challenge.lifecycle.registry import bento_name, resolve_bento
from mle_challenge.serving.bento import BENTOFILE, v1_template_accepted

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("model", "bento"),
    [
        ("price_classifier", "price_classifier_service"),
        ("price_classifier_boston", "price_classifier_boston_service"),
    ],
)
def test_a_bento_is_named_after_its_model(model: str, bento: str) -> None:
    assert bento_name(model) == bento


def test_a_model_name_too_long_for_its_bento_is_a_clear_error() -> None:
    with pytest.raises(RegistryError, match="at most 55 characters"):
        bento_name("m" * 60)


def test_the_newest_bento_is_the_named_models(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def exact_tag(get: object, wanted: str, kind: str, hint: str) -> str:
        asked.append(wanted)
        return wanted.replace("latest", "v1")

    monkeypatch.setattr(registry, "exact_tag", exact_tag)
    assert resolve_bento(None, "price_classifier_boston") == "price_classifier_boston_service:v1"
    assert resolve_bento(None) == "price_classifier_service:v1"
    assert resolve_bento("other_service:v2", "price_classifier_boston") == "other_service:v2"
    assert asked == [
        "price_classifier_boston_service:latest",
        "price_classifier_service:latest",
        "other_service:v2",
    ]


def test_the_bentofile_names_no_bento() -> None:
    """Check that bentofile.yaml leaves the name to `bento build` (one per model)."""
    import yaml

    assert "name" not in yaml.safe_load(BENTOFILE.read_text())


def test_bentomls_v1_template_warning_is_not_printed(caplog: pytest.LogCaptureFixture) -> None:
    """Check that reading our bentofile (a Dockerfile template, v1 on purpose) through
    BentoML's own code warns of nothing while building, and that other warnings still show."""
    import yaml
    from _bentoml_sdk.images import populate_image_from_build_config
    from bentoml._internal.bento.build_config import BentoBuildConfig

    config = BentoBuildConfig.from_yaml(BENTOFILE.open())
    assert yaml.safe_load(BENTOFILE.read_text())["docker"]["dockerfile_template"]
    with caplog.at_level(logging.WARNING):
        populate_image_from_build_config(None, config, str(Path(BENTOFILE).parent))
    assert "dockerfile_template is not supported" in caplog.text  # what a build printed
    caplog.clear()
    with caplog.at_level(logging.WARNING), v1_template_accepted():
        populate_image_from_build_config(None, config, str(Path(BENTOFILE).parent))
        logging.getLogger("bentoml.build").warning("conda options are not supported")
    assert "dockerfile_template" not in caplog.text and "conda options" in caplog.text
