"""The compiled loop of :mod:`mle_challenge.model.bulk` (numba; imported only when first used).

Compiled on first use by :func:`compiled`, with numba's on-disk cache or without it: numba
picks a cache folder when a function is decorated, and its fallback is ``__pycache__`` beside
this file, inside the package (read-only in installs and images).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import njit, prange


@cache
def compiled(*, cached: bool) -> Any:
    """The compiled walk; ``cached``: kept in ``numba.config.CACHE_DIR`` across processes."""
    return njit(parallel=True, nogil=True, cache=cached)(complete_trees_raw_predict)


def complete_trees_raw_predict(
    X: np.ndarray,
    table_feature: np.ndarray,
    goes_right: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_right: np.ndarray,
    leaf_value: np.ndarray,
    depth: int,
    n_classes: int,
    baseline: np.ndarray,
    block: int,
    out: np.ndarray,
) -> None:
    """Raw scores of complete trees stored flat (tree ``t``'s slot ``n`` at ``t * inner + n``).

    Columns past ``X``'s own are derived per row: column ``X.shape[1] + j`` is 1.0 when
    categorical table ``j`` sends the row's category right, else 0.0.
    """
    n_rows, n_columns = X.shape
    n_tables = table_feature.shape[0]
    no_code = goes_right.shape[1] - 1  # the column for missing, negative or unknown codes
    inner = 2**depth - 1
    n_trees = leaf_value.shape[0] // (inner + 1)
    for b in prange((n_rows + block - 1) // block):
        node = np.empty(n_trees, dtype=np.uint32)
        x = np.empty(n_columns + n_tables)
        for r in range(b * block, min(b * block + block, n_rows)):
            missing = False
            for c in range(n_columns):
                x[c] = X[r, c]
                missing |= X[r, c] != X[r, c]
            for j in range(n_tables):
                v = X[r, table_feature[j]]
                code = no_code if (v != v) or v < 0 else min(int(v), no_code)
                x[n_columns + j] = 1.0 if goes_right[j, code] else 0.0
            # One level of every tree at a time: the trees' steps are independent, so the
            # core overlaps them instead of waiting on one chain of lookups.
            node[:] = 0
            for _ in range(depth):
                at = 0
                if missing:  # NaN compares False either way: it goes where its split says
                    for t in range(n_trees):
                        i = at + node[t]
                        v = x[feature[i]]
                        right = (v > threshold[i]) or (v != v and missing_right[i])
                        node[t] = 2 * node[t] + 1 + right
                        at += inner
                else:
                    for t in range(n_trees):
                        i = at + node[t]
                        node[t] = 2 * node[t] + 1 + (x[feature[i]] > threshold[i])
                        at += inner
            # Added in sklearn's order (iteration, then class): the same sums to the last bit.
            for k in range(n_classes):
                out[r, k] = baseline[k]
            at = 0
            for t in range(n_trees):
                out[r, t % n_classes] += leaf_value[at + node[t] - inner]
                at += inner + 1
