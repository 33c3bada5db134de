"""Importing the service reads no model and reaches no network: the model is chosen when the
service starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

_IMPORT = """
import socket, time
def refuse(*args, **kwargs):
    raise OSError("the network was used while importing the service")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
started = time.perf_counter()
import mle_challenge.service
print(f"imported in {time.perf_counter() - started:.2f} s")
"""


def test_import_with_an_unreachable_registry_reads_no_model(tmp_path: Path) -> None:
    """Check that `import mle_challenge.service` succeeds with MLE_REGISTRY unreachable, the
    network refused and an empty model store: before, the import resolved the production
    model, reaching S3 (8.2 s, then a RegistryError on an empty store)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLE_MODEL")},
        "BENTOML_HOME": str(tmp_path / "empty-store"),
        "MLE_REGISTRY": "s3://unreachable/registry",
        "AWS_ENDPOINT_URL": "http://10.255.255.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stdout.strip())  # the time, for the record (no timed assertion)
