"""Which compose stack.sh drives: the v2 plugin (`docker compose`) where it answers, Debian's
docker-compose 1.29 otherwise, and a clear error with neither. The v2 plugin is not packaged
for this machine's Debian, so a stand-in `docker` records what it is asked: the arguments both
compose versions take alike (-p, --project-directory, -f, --env-file)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

STACK = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "stack.sh"


def _stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _stack(tmp_path: Path, *, plugin: bool, v1: bool) -> subprocess.CompletedProcess[str]:
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    answer = "exit 0" if plugin else "exit 1"
    _stand_in(
        bin_dir, "docker",
        f'if [ "$1 $2" = "compose version" ]; then {answer}; fi\necho "docker $*" >> {calls}',
    )  # fmt: skip
    if v1:
        _stand_in(bin_dir, "docker-compose", f'echo "docker-compose $*" >> {calls}')
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=x\n")
    # PATH: the stand-ins, then only what the script needs besides (no real docker-compose).
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("bash", "dirname", "cat", "sh"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        (tools / tool).symlink_to(found)
    env = {**os.environ, "PATH": f"{bin_dir}:{tools}", "STACK_ENV_FILE": str(env_file)}
    env["STACK_PROJECT"] = "mle-stack-cli-test"
    return subprocess.run(
        [str(tools / "bash"), str(STACK), "compose", "ps"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip


def _calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize(("plugin", "v1"), [(True, True), (True, False), (False, True)])
def test_the_plugin_first_then_docker_compose(tmp_path: Path, plugin: bool, v1: bool) -> None:
    """Check that stack.sh runs the plugin where it answers (even beside docker-compose), and
    docker-compose 1.29 otherwise, with the same project, files and secrets."""
    done = _stack(tmp_path, plugin=plugin, v1=v1)
    assert done.returncode == 0, done.stderr
    compose = STACK.parent
    expected = (
        f"{'docker compose' if plugin else 'docker-compose'} -p mle-stack-cli-test "
        f"--project-directory {compose} -f {compose / 'docker-compose.yml'} "
        f"--env-file {tmp_path / '.env'} ps"
    )
    assert _calls(tmp_path) == [expected]


def test_neither_compose_is_a_clear_error(tmp_path: Path) -> None:
    """Check the error that names what to install."""
    done = _stack(tmp_path, plugin=False, v1=False)
    assert done.returncode == 1
    assert "neither 'docker compose' nor 'docker-compose' is installed" in done.stderr
    assert "apt-get install docker-compose" in done.stderr


def _checkout(root: Path) -> Path:
    """A checkout's stack.sh at ``root``: the script finds its checkout from its own path."""
    folder = root / "deploy" / "compose"
    folder.mkdir(parents=True)
    (folder / "stack.sh").write_text(STACK.read_text())
    return folder / "stack.sh"


def _project(script: Path, env_file: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "STACK_PROJECT"}
    done = subprocess.run(
        ["bash", str(script), "project"],
        capture_output=True, text=True, timeout=30,
        env={**env, "STACK_ENV_FILE": str(env_file)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_two_checkouts_have_two_projects_and_so_two_sets_of_volumes(tmp_path: Path) -> None:
    """Check that two checkouts on one machine get compose projects of their own (the volumes
    are named after the project), and that one checkout gets the same one each time."""
    first, second = _checkout(tmp_path / "a"), _checkout(tmp_path / "b")
    one = _project(first, first.parent / ".env")
    assert one.startswith("mle-stack-") and one == _project(first, first.parent / ".env")
    assert _project(second, second.parent / ".env") not in (one, "mle-stack")


def test_the_project_is_kept_with_the_secrets(tmp_path: Path) -> None:
    """Check that the .env made on first start records the project beside the secrets, and
    that the recorded one is used from then on, even where the checkout moved; an .env made
    before projects were recorded keeps its volumes, those of project mle-stack."""
    script = _checkout(tmp_path / "a")
    env_file = tmp_path / "a.env"
    expected = _project(script, env_file)
    env = {k: v for k, v in os.environ.items() if k != "STACK_PROJECT"}
    made = subprocess.run(
        ["bash", "-c", f"source {script}; make_env"],
        capture_output=True, text=True, timeout=30, env={**env, "STACK_ENV_FILE": str(env_file)},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"STACK_PROJECT={expected}" in env_file.read_text().splitlines()
    moved = _checkout(tmp_path / "moved")
    assert _project(moved, env_file) == expected
    legacy = tmp_path / "legacy.env"
    legacy.write_text("POSTGRES_PASSWORD=x\n")
    assert _project(moved, legacy) == "mle-stack"
