"""Unit tests: where Docker Hub cannot be reached, an image build uses the local base image or
says in one line what to run; never a pull error that blames the CA bundle."""

from __future__ import annotations

import pytest

from mle_challenge.errors import BuildError
from mle_challenge.serving import container
from mle_challenge.serving.container import (
    DEFAULT_BASE_IMAGE,
    LOCAL_BASE_IMAGE,
    BaseChoice,
    choose_base_image,
)

pytestmark = pytest.mark.unit

NO_HUB = (
    'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup '
    "registry-1.docker.io on 10.255.255.53:53: no such host"
)


def _engine(monkeypatch: pytest.MonkeyPatch, present: set[str], pull_error: str | None) -> None:
    monkeypatch.setattr(container, "image_exists", lambda image: image in present)
    monkeypatch.setattr(container, "_pull", lambda image: pull_error)


def test_no_docker_hub_builds_on_the_local_base_image(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine(monkeypatch, {LOCAL_BASE_IMAGE}, NO_HUB)
    choice = choose_base_image(None)
    assert choice.image == LOCAL_BASE_IMAGE
    assert choice.note is not None and "no such host" in choice.note


def test_no_docker_hub_and_no_local_base_says_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine(monkeypatch, set(), NO_HUB)
    with pytest.raises(BuildError) as refused:
        choose_base_image(None)
    message = str(refused.value)
    assert "run `make base-image` once" in message and "CA bundle" not in message
    assert "\n" not in message


@pytest.mark.parametrize(("present", "pull_error"), [({DEFAULT_BASE_IMAGE}, NO_HUB), (set(), None)])
def test_the_default_base_where_it_is_here_or_pulls(
    monkeypatch: pytest.MonkeyPatch, present: set[str], pull_error: str | None
) -> None:
    _engine(monkeypatch, present | {LOCAL_BASE_IMAGE}, pull_error)
    assert choose_base_image(None) == BaseChoice(DEFAULT_BASE_IMAGE)


def test_a_base_asked_for_must_be_here(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine(monkeypatch, set(), None)
    with pytest.raises(BuildError, match="make base-image builds it"):
        choose_base_image(LOCAL_BASE_IMAGE)


def test_containerize_does_not_try_the_default_base_with_the_ca_bundle_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """Check the issue's case: the host's CA bundle (make build-docker's default) and no Docker
    Hub: the one-line error says to run make base-image, before any trust layer is built."""
    _engine(monkeypatch, set(), NO_HUB)
    monkeypatch.setattr(container, "docker_available", lambda: None)
    monkeypatch.setattr(container, "resolve_bento", lambda tag, name: "price_classifier_service:v")
    monkeypatch.setattr(container, "trust_layer", lambda *a: pytest.fail("trust layer built"))
    with pytest.raises(BuildError, match="run `make base-image` once"):
        container.containerize(None, ca_bundle=__import__("pathlib").Path("/dev/null"))
