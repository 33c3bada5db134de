"""Where the compiled batch walk is cached: in the state folder, never in the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

PACKAGE_CACHE = ROOT / "mle_challenge" / "model" / "__pycache__"
_PREDICT = """
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from mle_challenge.model.bulk import CompleteTrees
X = np.random.default_rng(0).normal(size=(200, 3))
y = (X[:, 0] > 0).astype(int)
model = HistGradientBoostingClassifier(max_iter=5, max_depth=3).fit(X, y)
np.testing.assert_array_equal(CompleteTrees(model).predict_proba(X), model.predict_proba(X))
"""


def _numba_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))


def _predict(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", _PREDICT],
        env={**env, "BENTOML_HOME": str(home)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("writable", [True, False])
def test_the_walk_is_cached_in_the_state_folder_or_not_at_all(
    tmp_path: Path, writable: bool
) -> None:
    """Check that compiling the walk writes nothing into the package: its cache lands in the
    state folder, and where that cannot be written (a read-only install) it is not cached."""
    before = _numba_files(PACKAGE_CACHE) if PACKAGE_CACHE.is_dir() else []
    if writable:
        home = tmp_path / "home"
    else:
        home = tmp_path / "home"
        home.mkdir()
        # the state folder a file: no one can write under it, root neither
        (home / "mle_challenge").write_text("")
    _predict(home)
    after = _numba_files(PACKAGE_CACHE) if PACKAGE_CACHE.is_dir() else []
    assert after == before
    if writable:
        assert _numba_files(home / "mle_challenge" / "numba-cache")
