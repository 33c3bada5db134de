"""Local servers started by benchmarks and tests: a free loopback port, a process in its own
group, a readiness wait that notices an early exit, and a stop that takes the children too."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes] | None,
    timeout: float = 120,
    path: str = "/readyz",
) -> None:
    """Wait until ``url + path`` answers below 500; raise if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            if requests.get(url + path, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started by :func:`start`, with everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on a loopback port, run as the `postgres` user."""

    bindir: Path
    data: Path
    port: int
    user: str | None  # who runs the server (PostgreSQL refuses root)

    @property
    def url(self) -> str:
        return f"postgresql://mle@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", *args]
        subprocess.run(command, user=self.user, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.data.parent, ignore_errors=True)


def start_postgres() -> Postgres | None:
    """A throwaway cluster of Debian's PostgreSQL on a free loopback port, run as the
    `postgres` user when we are root (it refuses root); None when it is not installed."""
    import pwd
    import tempfile

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        return None
    bindir = found[-1].parent
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="mle-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "mle", "--auth=trust"],
        user=user,
        check=True,
        capture_output=True,
        timeout=300,
    )
    server = Postgres(bindir, data, free_port(), user)
    server.start()
    return server
