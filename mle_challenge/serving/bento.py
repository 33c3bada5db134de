"""Build a bento for one exact model.

``build_bento`` reads ``bentofile.yaml`` and adds what a file cannot know: the exact model tag
(named to BentoML as the bento's one model: the service declares none, since it chooses its
model when it starts), the bento's name after that model's (``price_classifier_boston_service``),
and Python requirements pinned to the versions in this environment, which ``make install``
synced from the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import yaml

from mle_challenge.config import get_settings
from mle_challenge.errors import BuildError, RegistryError
from mle_challenge.lifecycle.registry import MODEL_NAME, bento_name, resolve_tag
from mle_challenge.serving.runtime import CONTENT_HASH_LABEL, FOLLOW_LABEL

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENTOFILE = PROJECT_ROOT / "bentofile.yaml"

# What the service imports; everything else in the lock (Luigi, matplotlib, pyarrow, test
# tools) stays out of the bento and the image.
SERVING_PACKAGES = (
    "bentoml",
    "boto3",  # following a shared registry on S3 (MLE_REGISTRY): the production alias
    "fsspec",  # ... and pulling each new production model
    "s3fs",
    "fastapi",
    "httptools",
    "numpy",
    "pandas",
    "pydantic",
    "pydantic-settings",
    "psycopg",  # the prediction log in PostgreSQL
    "psycopg-binary",
    "pyyaml",
    "scikit-learn",
    "sqlalchemy",  # the prediction log
    "uvloop",
)

_MARKER_EXTRA = re.compile(r"extra\s*==")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_closure(roots: Iterable[str] = SERVING_PACKAGES) -> dict[str, str]:
    """``{distribution: version}`` for ``roots`` and everything they require, as installed.

    Walks installed metadata (no network, no resolver): extras are not followed and
    environment markers are evaluated for this interpreter, as pip would.
    """
    from packaging.requirements import Requirement

    pinned: dict[str, str] = {}
    pending = list(roots)
    while pending:
        name = _normal(pending.pop())
        if name in pinned:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError as exc:
            raise BuildError(
                f"{name} is not installed in this environment: run `make install`."
            ) from exc
        pinned[name] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and (
                _MARKER_EXTRA.search(str(marker)) or not marker.evaluate({"extra": ""})
            ):
                continue
            pending.append(requirement.name)
    return dict(sorted(pinned.items()))


def _bentofile(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise BuildError(f"{path} not found: run from the project's root.") from exc
    if not isinstance(config, dict) or "service" not in config:
        raise BuildError(f"{path} must be a mapping with at least a `service` key.")
    return config


# BentoML 1.4 warns on every build that a ``docker.dockerfile_template`` makes the bento a v1
# bento. That is the choice bentofile.yaml makes on purpose (the base image chosen at
# containerize time, no compiler toolchain in the image; docs/architecture.md), so the warning
# says nothing new: this one message is dropped, no other.
_V1_TEMPLATE_WARNING = "docker.dockerfile_template is not supported by bento v2"
_BENTOML_BUILD_LOGGER = "bentoml.build"  # _bentoml_sdk/images.py logs there


class _DropV1TemplateWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_V1_TEMPLATE_WARNING)


@contextmanager
def v1_template_accepted() -> Any:
    """While building: BentoML's warning about our Dockerfile template is not printed."""
    logger = logging.getLogger(_BENTOML_BUILD_LOGGER)
    dropped = _DropV1TemplateWarning()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


@contextmanager
def scoped_environ(**values: str) -> Any:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def build_bento(
    model_tag: str | None = None,
    bentofile: Path = BENTOFILE,
    *,
    model_name: str = MODEL_NAME,
    follow: bool = False,
) -> str:
    """Build a bento serving exactly ``model_tag`` (default: the production model of
    ``model_name``, one name per city); its tag, ``<model name>_service:<version>``.

    ``follow``: the bento follows production when it runs (unless ``MLE_FOLLOW_PRODUCTION=0``
    says otherwise), starting from ``model_tag``; it still carries that model, so it starts
    even where the registry cannot be read."""
    import bentoml

    from mle_challenge.lifecycle import production, store

    if model_tag is None:
        tag = production.production_tag(model_name)  # checked against its content hash
        if tag is None:
            raise RegistryError(
                f"no production model of {model_name} to build: promote one (`mle-challenge "
                "promote TAG`, or `make run`), or pass MODEL_TAG=name:version."
            )
    else:
        tag = store.verified(resolve_tag(model_tag, model_name))
    config = _bentofile(bentofile)
    config.pop("name", None)  # one name per model, never the file's
    name = bento_name(tag.split(":")[0])
    python = dict(config.pop("python", None) or {})
    pins = pinned_closure()
    python.update(packages=[f"{name}=={v}" for name, v in pins.items()], lock_packages=False)
    labels = {
        **(config.pop("labels", None) or {}),
        "model": tag.replace(":", "-"),
        CONTENT_HASH_LABEL: store.read_card(tag)["content_hash"],  # verified just above
        **({FOLLOW_LABEL: "true"} if follow else {}),
    }
    # BentoML refuses a dockerfile_template outside the working directory: build from the root.
    # The settings are read once per process: read them again under this MLE_MODEL_TAG, here
    # and after, or an earlier read decides which model the bento gets.
    get_settings.cache_clear()
    # MLE_MODEL_NAME too: a name set in this shell for another city must not refuse the tag.
    pinned = {"MLE_MODEL_TAG": tag, "MLE_MODEL_NAME": tag.split(":")[0]}
    with scoped_environ(**pinned), contextlib.chdir(bentofile.parent), v1_template_accepted():
        try:
            bento = bentoml.bentos.build(
                **config,
                name=name,
                models=[tag],
                python=python,
                labels=labels,
                build_ctx=str(bentofile.parent),
            )
        except bentoml.exceptions.BentoMLException as exc:
            raise BuildError(f"bentoml build failed: {exc}") from exc
        finally:
            get_settings.cache_clear()
    models = sorted({str(m.tag) for m in bento.info.all_models})
    if models != [tag]:
        bentoml.bentos.delete(str(bento.tag))
        raise BuildError(f"bento {bento.tag} referenced models {models}, not exactly [{tag}]")
    return str(bento.tag)
