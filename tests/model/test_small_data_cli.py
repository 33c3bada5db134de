"""`train` on too few listings or on one price category: exit 2 and one line, no traceback.

Through the real command, with two Luigi workers as `make run` has: the task that fails runs
in a child process, and its error must still reach the user as our line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mle_challenge.data.synthetic import generate_listings

pytestmark = [pytest.mark.model, pytest.mark.e2e]


def _train(listings: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    command = [sys.executable, "-m", "mle_challenge.cli", "train", "--listings", str(listings),
               "--outputs", str(tmp_path / "out"), "--workers", "2"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize(
    ("rows", "price", "expected"),
    [
        (10, None, "listing(s) after cleaning; training needs at least 100"),
        (500, "$50.00", "listings are in one price category (Low); training needs at least two"),
    ],
    ids=["ten-rows", "one-class"],
)
def test_bad_training_data_gets_one_line(
    tmp_path: Path, rows: int, price: str | None, expected: str
) -> None:
    raw = generate_listings(rows, 0)
    if price is not None:
        raw["price"] = price
    listings = tmp_path / "listings.csv"
    raw.to_csv(listings, index=False)
    result = _train(listings, tmp_path)
    assert result.returncode == 2, result.stderr
    # Progress lines ("[1 s] preprocess: started ...") come first, on stderr too; the answer to
    # bad data is one error line.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("[")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and expected in errors[0], lines
    assert "Traceback" not in result.stdout + result.stderr
