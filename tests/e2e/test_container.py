"""Bento by model tag → image by bento tag on a real Docker engine → the container answers as
the in-process service does. Skips only where no Docker engine can be started."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.airbnb import EXAMPLE_LISTING

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "docker"
# Downloads inside the image build may pass a TLS-intercepting proxy: trust what the host does.
HOST_TRUST = Path("/etc/ssl/certs/ca-certificates.crt")


def _ca_bundle() -> str | None:
    return os.environ.get("CA_BUNDLE") or (str(HOST_TRUST) if HOST_TRUST.is_file() else None)


@pytest.fixture(scope="module")
def docker_engine() -> None:
    from mle_challenge.serving.container import docker_available

    if docker_available() is None:
        return
    started = subprocess.run(
        ["bash", str(SCRIPTS / "docker-engine.sh")], capture_output=True, text=True, timeout=600
    )
    reason = docker_available()
    if reason is not None:
        pytest.skip(f"no Docker engine could be started: {reason}; {started.stderr.strip()}")


@pytest.fixture(scope="module")
def base_image(docker_engine: None) -> str:
    from mle_challenge.serving.container import LOCAL_BASE_IMAGE, image_exists

    if not image_exists(LOCAL_BASE_IMAGE):
        built = subprocess.run(
            ["bash", str(SCRIPTS / "base-image.sh"), LOCAL_BASE_IMAGE],
            env={**os.environ, "CA_BUNDLE": _ca_bundle() or ""},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert built.returncode == 0, built.stderr
    return LOCAL_BASE_IMAGE


@pytest.fixture(scope="module")
def bento_tag(registered: Any) -> str:
    from mle_challenge.serving.bento import build_bento

    return build_bento(registered.tag)


@pytest.fixture(scope="module")
def image(bento_tag: str, base_image: str) -> Iterator[str]:
    from mle_challenge.serving.container import containerize

    bundle = _ca_bundle()
    built = containerize(
        bento_tag, base_image=base_image, ca_bundle=Path(bundle) if bundle else None
    )
    yield built
    subprocess.run(["docker", "rmi", "-f", built], capture_output=True)


def test_bento_holds_exactly_the_model(bento_tag: str, registered: Any) -> None:
    import bentoml

    bento = bentoml.bentos.get(bento_tag)
    assert [str(m.tag) for m in bento.info.all_models] == [registered.tag]
    assert bento_tag.split(":")[0] == f"{registered.tag.split(':')[0]}_service"  # its model's
    manifest = yaml.safe_load((Path(bento.path) / "bento.yaml").read_text())
    assert manifest["labels"]["model"] == registered.tag.replace(":", "-")
    requirements = (Path(bento.path) / "env" / "python" / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "luigi" not in requirements
    sources = {p.name for p in (Path(bento.path) / "src").rglob("*")}
    assert "service.py" in sources and not sources & {".venv", "bentoml_home", "outputs"}


def test_container_answers_like_the_service(
    image: str, bento_tag: str, service_module: Any
) -> None:
    from tests.support.processes import free_port, wait_ready

    assert image == bento_tag  # BentoML's default: the image is tagged with the bento's tag
    user = subprocess.run(
        ["docker", "image", "inspect", image, "--format", "{{.Config.User}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert user and user not in ("root", "0")
    port = free_port()
    name = f"mle-test-{port}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:3000", image],
        check=True,
        capture_output=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, None, timeout=120)
        service = service_module.PriceClassifier()
        for change in ({}, {"room_type": "Private room", "accommodates": 1}, {"tv": True}):
            body = EXAMPLE_LISTING | change
            expected = service_module.answers_for(
                service.predictor, [service_module.Listing.model_validate(body)]
            )[0]
            got = requests.post(f"{url}/classify", json=body, timeout=10).json()
            assert got == expected.model_dump(mode="json")
        assert requests.post(f"{url}/classify", json={"id": 1}, timeout=10).status_code == 400
        whoami = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True
        )
        assert whoami.stdout.strip() != "0"
    finally:
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        time.sleep(0.1)
        print(logs[-2000:])
