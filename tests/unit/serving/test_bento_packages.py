"""What the bento's image carries: enough to follow a shared registry on S3, no more."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mle_challenge.serving.bento import pinned_closure

pytestmark = pytest.mark.unit

# An interpreter where pyarrow cannot be imported, as in the image.
_WITHOUT_PYARROW = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("pyarrow is not in the image")
sys.meta_path.insert(0, _Block())
from mle_challenge.lifecycle import remote, shared
from mle_challenge.serving import follow
print("ok")
"""


def test_the_image_can_follow_a_registry_on_s3() -> None:
    pins = pinned_closure()
    for package in ("boto3", "botocore", "fsspec", "s3fs"):
        assert package in pins, f"{package} missing from the bento's requirements"
    assert "pyarrow" not in pins and "luigi" not in pins  # training stays out of the image


def test_pulling_a_model_needs_no_pyarrow() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYARROW], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
