"""A container image for one exact bento.

``containerize`` wraps ``bentoml containerize`` with the options this environment needs: a base
image chosen at build time (no registry is needed), and a CA bundle for TLS-intercepting proxies.
Where BentoML's default base cannot be pulled (no Docker Hub), the local base image that
``make base-image`` builds is used instead, or the error says to build it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mle_challenge.errors import BuildError
from mle_challenge.lifecycle.registry import MODEL_NAME, resolve_bento
from mle_challenge.serving.bento import scoped_environ

LOCAL_BASE_IMAGE = "mle-challenge-base:bookworm-py3.11"
# BentoML's base for distro debian and Python 3.11 (bentofile.yaml), from Docker Hub.
DEFAULT_BASE_IMAGE = "python:3.11-slim"
# A pull that hangs (a proxy that drops the connection) must not hang the build.
_PULL_TIMEOUT_SECONDS = 300


def docker_available() -> str | None:
    """Why no Docker engine is usable, or None when one answers."""
    if shutil.which("docker") is None:
        return "the docker client is not installed (make docker-engine installs docker.io)"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return "no Docker engine answers (make docker-engine starts dockerd)"
    return None


def _docker(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    return subprocess.run(["docker", *args], text=True, env=env, **kwargs)


def image_exists(image: str) -> bool:
    return _docker("image", "inspect", image, capture_output=True).returncode == 0


@dataclass(frozen=True)
class BaseChoice:
    """The base image a build uses, and why when it is not the one asked for."""

    image: str
    note: str | None = None


def _pull(image: str) -> str | None:
    """Why ``image`` could not be pulled (docker's last line), or None once it is here."""
    try:
        done = _docker("pull", "-q", image, capture_output=True, timeout=_PULL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return f"no answer within {_PULL_TIMEOUT_SECONDS} s"
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"docker pull exited {done.returncode}"


def choose_base_image(requested: str | None) -> BaseChoice:
    """``requested`` if it is in the local engine; with none, BentoML's default where it is
    here or can be pulled, else the local base image. :class:`BuildError` naming the one
    command to run when neither is to be had: a pull error alone does not say the fix."""
    if requested is not None:
        if image_exists(requested):
            return BaseChoice(requested)
        hint = " (make base-image builds it)" if requested == LOCAL_BASE_IMAGE else ""
        raise BuildError(f"base image {requested} is not in the local Docker engine{hint}.")
    if image_exists(DEFAULT_BASE_IMAGE):
        return BaseChoice(DEFAULT_BASE_IMAGE)
    why = _pull(DEFAULT_BASE_IMAGE)
    if why is None:
        return BaseChoice(DEFAULT_BASE_IMAGE)
    if image_exists(LOCAL_BASE_IMAGE):
        note = f"cannot pull {DEFAULT_BASE_IMAGE} ({why}): building on {LOCAL_BASE_IMAGE}"
        return BaseChoice(LOCAL_BASE_IMAGE, note)
    raise BuildError(
        f"cannot pull the default base image {DEFAULT_BASE_IMAGE} ({why}): run `make "
        f"base-image` once (it builds {LOCAL_BASE_IMAGE} with no registry), then build again."
    )


def trust_layer(base_image: str, ca_bundle: Path) -> str:
    """``base_image`` plus ``ca_bundle`` in its trust store and the variables that make pip,
    uv, requests and apt use it; tagged by content, so it is built once per bundle."""
    if not ca_bundle.is_file():
        raise BuildError(f"CA bundle {ca_bundle} does not exist: pass CA_BUNDLE=/path/to/ca.pem")
    digest = hashlib.sha256(ca_bundle.read_bytes() + base_image.encode()).hexdigest()[:12]
    image = f"mle-challenge-trust:{digest}"
    if image_exists(image):
        return image
    with tempfile.TemporaryDirectory(prefix="mle-trust-") as context:
        shutil.copyfile(ca_bundle, Path(context) / "extra-ca.pem")
        (Path(context) / "Dockerfile").write_text(
            f"FROM {base_image}\n"
            "COPY extra-ca.pem /usr/local/share/mle-challenge/extra-ca.pem\n"
            "USER root\n"
            "RUN mkdir -p /etc/ssl/certs && cat /usr/local/share/mle-challenge/extra-ca.pem"
            " >> /etc/ssl/certs/ca-certificates.crt\n"
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "
            "PIP_CERT=/etc/ssl/certs/ca-certificates.crt "
            "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt "
            "UV_NATIVE_TLS=1\n"
        )
        done = _docker("build", "-q", "-t", image, context, capture_output=True)
    if done.returncode != 0:
        raise BuildError(f"could not add the CA bundle to {base_image}: {done.stderr.strip()}")
    return image


def containerize(
    bento_tag: str | None,
    *,
    base_image: str | None = None,
    ca_bundle: Path | None = None,
    image_tag: str | None = None,
    model_name: str = MODEL_NAME,
    say: Callable[[str], object] | None = None,
) -> str:
    """``bentoml containerize`` one bento (default: ``model_name``'s newest) on
    ``base_image`` (default: :func:`choose_base_image`'s, whose note goes to ``say``);
    returns the image tag (default: the bento's tag)."""
    import bentoml

    reason = docker_available()
    if reason is not None:
        raise BuildError(f"cannot build an image: {reason}.")
    tag = resolve_bento(bento_tag, model_name)
    choice = choose_base_image(base_image)
    if choice.note is not None and say is not None:
        say(choice.note)
    base = choice.image
    if ca_bundle is not None:
        base = trust_layer(base, ca_bundle)
    build_args = {"BASE_IMAGE": base}
    image = image_tag or tag
    with scoped_environ(DOCKER_BUILDKIT="0"), _scratch_as_cwd():
        try:
            bentoml.container.build(tag, backend="docker", image_tag=(image,), build_arg=build_args)
        except Exception as exc:  # BentoML raises plain errors with docker's output
            raise BuildError(f"containerizing {tag} failed: {exc}") from exc
    return image


@contextmanager
def _scratch_as_cwd() -> Any:
    """Work from a scratch folder that also holds the temporary files.

    ``bentoml containerize`` copies the bento to a temporary folder and then refuses to read
    the bento's own ``dockerfile_template`` there unless that folder is inside the current
    working directory (BentoML 1.4.39). Making the scratch folder both satisfies the check.
    """
    previous_cwd, previous_tmp = Path.cwd(), tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="mle-containerize-") as scratch:
        os.chdir(scratch)
        tempfile.tempdir = scratch
        try:
            yield
        finally:
            tempfile.tempdir = previous_tmp
            os.chdir(previous_cwd)


def image_size_bytes(image: str) -> int:
    done = _docker("image", "inspect", image, "--format", "{{json .Size}}", capture_output=True)
    if done.returncode != 0:
        raise BuildError(f"no image {image}: {done.stderr.strip()}")
    return int(json.loads(done.stdout))
