"""Unit tests: looking tags up in the BentoML store fails with a clear error, never a traceback."""

from __future__ import annotations

import pytest

from mle_challenge.errors import RegistryError
from mle_challenge.lifecycle.registry import resolve_bento, resolve_tag

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("resolve", [resolve_tag, resolve_bento])
def test_malformed_tags_are_clear_errors(resolve) -> None:
    """Check that a tag BentoML cannot parse (it raises ValueError) says so, naming the tag."""
    with pytest.raises(RegistryError, match=r"invalid (model|bento) tag 'bad tag!'"):
        resolve("bad tag!")


def test_missing_bento_says_how_to_build_one() -> None:
    with pytest.raises(RegistryError, match=r"no bento nope:1: build one with `make build-bento`"):
        resolve_bento("nope:1")
