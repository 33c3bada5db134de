"""The BentoML model store: register a trained pipeline with its lineage, find it again."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES, __version__
from mle_challenge.features import API_FEATURES

MODEL_NAME = "price_classifier"


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def git_commit() -> str:
    """The current git commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def library_versions() -> dict[str, str]:
    names = ("scikit-learn", "pandas", "numpy", "bentoml", "luigi")
    return {"python": platform.python_version()} | {n: version(n) for n in names}


def find_by_fingerprint(fingerprint: str, name: str = MODEL_NAME) -> str | None:
    """The tag of a registered model trained from exactly these inputs, if any."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        models = bentoml.models.list(name)
    except NotFound:  # no model of that name yet
        return None
    for model in models:
        if model.info.labels.get("fingerprint") == fingerprint:
            return str(model.tag)
    return None


def register_model(
    model: Any,
    *,
    fingerprint: str,
    candidate: str,
    metrics: Mapping[str, Any],
    params: Mapping[str, Any],
    data_fingerprint: str,
    report_path: str,
    name: str = MODEL_NAME,
) -> str:
    """Save ``model`` as ``name:<version>`` with its lineage, unless already registered.

    Returns the tag. Registration is idempotent: the same ``fingerprint`` (all inputs of the
    pipeline) returns the existing tag instead of saving a second version.
    """
    import bentoml

    existing = find_by_fingerprint(fingerprint, name)
    if existing is not None:
        return existing
    test = metrics["test"]
    saved = bentoml.sklearn.save_model(
        name,
        model,
        signatures={"predict": {"batchable": True}, "predict_proba": {"batchable": True}},
        labels={
            "fingerprint": fingerprint,
            "data_fingerprint": data_fingerprint,
            "candidate": candidate,
            "stage": "candidate",
        },
        metadata={
            "metrics": {k: test[k] for k in ("accuracy", "macro_f1", "roc_auc_ovr", "rows")},
            "validation_metrics": {
                k: metrics["validation"][k] for k in ("accuracy", "macro_f1", "roc_auc_ovr")
            },
            "params": dict(params),
            "data_fingerprint": data_fingerprint,
            "code_version": git_commit(),
            "package_version": __version__,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "libraries": library_versions(),
            "feature_schema": list(API_FEATURES),
            "classes": list(CATEGORIES),
            "report": report_path,
        },
    )
    return str(saved.tag)
