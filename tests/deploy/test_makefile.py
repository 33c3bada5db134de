"""The Makefile takes the data scientists' earlier commands: MODEL_VERSION for MODEL_TAG,
DOCKER_IMAGE for the image to run; and a usage error costs nothing (no engine script first)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]


def _make(*args: str, dry: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_TAG", "BENTO_TAG")}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *(["-n"] if dry else []), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_model_version_is_model_tag() -> None:
    """Check that `MODEL_VERSION=<tag> make build-bento` builds that model, not production."""
    done = _make("build-bento", "MODEL_VERSION=price_classifier:abc")
    assert done.returncode == 0, done.stderr
    assert "bento build --model price_classifier:abc" in done.stdout


def test_model_version_and_another_model_tag_are_refused() -> None:
    done = _make("build-bento", "MODEL_VERSION=price_classifier:a", "MODEL_TAG=price_classifier:b")
    assert done.returncode == 2
    assert "MODEL_VERSION is another name for MODEL_TAG" in done.stderr


def test_run_docker_checks_its_arguments_before_the_engine() -> None:
    """Check that `make run-docker` without an image prints its usage and nothing else: the
    engine script (which may install packages and start a daemon) does not run first."""
    done = _make("run-docker", dry=False)
    assert done.returncode == 2
    assert done.stdout.startswith("usage: make run-docker BENTO_TAG="), done.stdout
    assert "docker engine" not in done.stdout + done.stderr


def test_run_docker_runs_docker_image() -> None:
    done = _make("run-docker", "DOCKER_IMAGE=img:1", "PORT=3005")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "docker run --rm -p 127.0.0.1:3005:3000 img:1"


def test_build_docker_takes_the_newest_bento_of_model_name() -> None:
    done = _make("build-docker", "MODEL_NAME=price_classifier_boston")
    assert done.returncode == 0, done.stderr
    assert "bento containerize  --model-name price_classifier_boston" in done.stdout


@pytest.mark.parametrize(
    ("target", "command"),
    [
        ("build-bento", "bento build"),
        ("build-docker", "bento containerize"),
        ("monitor", "monitor --since"),
        ("pipeline", "train --listings"),
        ("schedule", "schedule --listings"),
    ],
)
def test_project_reaches_the_command_without_the_repository_params(
    target: str, command: str
) -> None:
    """Check that `make <target> PROJECT=p.yaml` passes --project p.yaml, and no --params
    params.yaml (which would replace every section of the project) unless PARAMS is given."""
    done = _make(target, "PROJECT=p.yaml", "LISTINGS=l.csv")
    assert done.returncode == 0, done.stderr
    (line,) = [row for row in done.stdout.splitlines() if command in row]
    assert "--project p.yaml" in line and "--params" not in line, line
    given = _make(target, "PROJECT=p.yaml", "LISTINGS=l.csv", "PARAMS=x.yaml").stdout
    if target in ("monitor", "pipeline", "schedule"):
        assert "--project p.yaml --params x.yaml" in given, given
    without = _make(target, "LISTINGS=l.csv").stdout
    assert "--project" not in without
    if target in ("monitor", "pipeline", "schedule"):
        assert "--params params.yaml" in without, without
