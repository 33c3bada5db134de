"""The BentoML model store: register a trained pipeline with its lineage, find it again."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mle_challenge import CATEGORIES, __version__
from mle_challenge.config import MODEL_NAME as MODEL_NAME  # re-exported: the default name
from mle_challenge.config import check_model_name
from mle_challenge.errors import RegistryError
from mle_challenge.lifecycle.store import (
    bentoml_home,
    bentoml_store_at,
    first_intact,
    publish,
    scan,
    staging,
)
from mle_challenge.model.city import NYC_AREA, Area, City
from mle_challenge.model.features import API_FEATURES, input_area, input_categories


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
    """The tag of an intact registered model trained from exactly these inputs, if any.

    A damaged or altered model with the same fingerprint is skipped, so registering again
    replaces it rather than adopting it.
    """
    # Read every model's labels, but hash only those trained from these inputs.
    same = [
        stored
        for stored in scan(name, check=False)
        if stored.info is not None and stored.info.labels.get("fingerprint") == fingerprint
    ]
    return first_intact(same)


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
    extra_files: Mapping[str, bytes] | None = None,
    city: City | None = None,
) -> str:
    """Save ``model`` as ``name:<version>`` with its lineage, unless already registered.

    Returns the tag. Registration is idempotent: the same ``fingerprint`` (all inputs of the
    pipeline) returns the existing intact model instead of saving a second version. The model
    is saved in a staging folder and moved into the store whole (:mod:`.store`), so a kill at
    any moment leaves either no model or a complete one. ``extra_files`` (name → bytes, such
    as the reference profile monitoring reads) are saved in the model's folder, under its
    content hash. ``city`` (its price edges, neighbourhoods and example request) goes into the
    metadata beside the area the model accepts, so a service reads them without unpickling.
    """
    import bentoml

    existing = find_by_fingerprint(fingerprint, check_model_name(name))
    if existing is not None:
        return existing
    test = metrics["test"]
    with staging() as folder:
        with bentoml_store_at(folder) as staged:
            saved = bentoml.sklearn.save_model(
                name,
                model,
                signatures={"predict": {"batchable": True}, "predict_proba": {"batchable": True}},
                # Labels are fixed when a model is saved, so none says whether it is
                # production: that is the alias's, which moves (`models list` shows it).
                labels={
                    "fingerprint": fingerprint,
                    "data_fingerprint": data_fingerprint,
                    "candidate": candidate,
                },
                metadata={
                    "metrics": {
                        k: test[k] for k in ("accuracy", "macro_f1", "roc_auc_ovr", "rows")
                    },
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
                    "categories": input_categories(model),
                    "area": input_area(model).as_dict(),
                    **({"city": city.as_dict()} if city is not None else {}),
                    "classes": list(CATEGORIES),
                    "report": report_path,
                },
            )
        # save_model hands back the model in BentoML's scratch folder: publish the store's copy,
        # with the pickle rewritten so that the same model always gives the same bytes.
        complete = Path(staged.get(saved.tag).path)
        dump_canonical(model, complete / "saved_model.pkl")
        for file_name, content in (extra_files or {}).items():
            (complete / file_name).write_bytes(content)
        return publish(complete, str(saved.tag), origin="registered")


# The listing ids a model was fitted on, sorted int64 (.npy): the gate compares a new model
# with production on test rows production never saw. 8 bytes a listing (NYC: 216 KB).
TRAINED_IDS_FILE = "trained_ids.npy"


def trained_ids_bytes(ids: Any) -> bytes:
    """``ids`` as the file saved in the model folder (the same ids, the same bytes)."""
    import io

    import numpy as np

    out = io.BytesIO()
    np.save(out, np.unique(np.asarray(ids, dtype="int64")), allow_pickle=False)
    return out.getvalue()


def trained_ids(tag: str) -> Any | None:
    """The listing ids ``tag`` was fitted on (a sorted int64 array), or None for a model
    registered before they were saved. Call on a verified model."""
    import numpy as np

    from mle_challenge.lifecycle.store import model_path

    path = model_path(tag) / TRAINED_IDS_FILE
    return np.load(path, allow_pickle=False) if path.is_file() else None


def dump_canonical(model: Any, path: Path) -> None:
    """``joblib.dump`` whose bytes depend only on the model's values.

    Pickle writes a string it has seen before as a reference to it, so the bytes depend on
    which equal strings happen to be one object, and that differs between processes (the
    unpickler interns attribute names into the process's table). Writing every string in full
    makes two saves of the same model byte-identical (about 6% larger); ``joblib.load`` reads
    it as usual.
    """
    from joblib.numpy_pickle import NumpyPickler

    class _Canonical(NumpyPickler):
        def memoize(self, obj: Any) -> None:
            if not isinstance(obj, str | bytes):
                super().memoize(obj)

    with path.open("wb") as out:
        _Canonical(out, protocol=5).dump(model)


def resolve_tag(tag: str | None = None, name: str = MODEL_NAME) -> str:
    """The exact ``name:version`` of ``tag``; no tag (or ``name:latest``) means the newest.

    Raises :class:`RegistryError` naming what was asked for and how to list what exists.
    """
    import bentoml

    wanted = tag or f"{name}:latest"
    return exact_tag(
        bentoml.models.get,
        wanted,
        "model",
        f" in the BentoML store ({bentoml_home()}): train one with `make run`, or list what "
        "exists with `bentoml models list`.",
    )


def exact_tag(get: Callable[[str], Any], wanted: str, kind: str, hint: str) -> str:
    """The exact tag ``get`` (``bentoml.models.get``, ``bentoml.bentos.get``) finds for
    ``wanted``; :class:`RegistryError` saying ``no {kind} {wanted}{hint}`` when it finds
    none, or that the tag is malformed."""
    from bentoml.exceptions import BentoMLException, NotFound

    try:
        return str(get(wanted).tag)
    except NotFound as exc:
        raise RegistryError(f"no {kind} {wanted}{hint}") from exc
    except (BentoMLException, ValueError) as exc:  # malformed tags (ValueError in 1.4)
        raise RegistryError(f"invalid {kind} tag {wanted!r}: {exc}") from exc


@dataclass(frozen=True)
class ModelContract:
    """What a registered model accepts and knows of its city, from its metadata."""

    categories: dict[str, list[str]]
    area: Area  # New York's for models registered before areas were learned
    city: City | None  # None: registered before it saved its city


def model_contract(tag: str) -> ModelContract:
    """A registered model's contract, from one read of its metadata (without unpickling it,
    unless it was registered before its categories were saved)."""
    import bentoml

    stored = bentoml.models.get(tag)
    metadata = stored.info.metadata
    categories: Any = metadata.get("categories")
    if isinstance(categories, dict):
        known = {str(k): [str(x) for x in v] for k, v in categories.items()}
    else:
        known = input_categories(bentoml.sklearn.load_model(stored))
    area: Any = metadata.get("area")
    city: Any = metadata.get("city")
    return ModelContract(
        categories=known,
        area=Area.from_dict(area) if isinstance(area, dict) else NYC_AREA,
        city=City.from_dict(city) if isinstance(city, dict) else None,
    )


_BENTO_SUFFIX = "_service"
_BENTO_NAME_MAX = 63  # BentoML's limit for a tag's name, as for a model's


def bento_name(model_name: str = MODEL_NAME) -> str:
    """The name of the bentos that serve ``model_name``'s models (``price_classifier_boston``
    → ``price_classifier_boston_service``): one name per model, so that ``bentoml list`` tells
    the cities and projects apart and the newest bento of one is never another's."""
    name = f"{model_name}{_BENTO_SUFFIX}"
    if len(name) > _BENTO_NAME_MAX:
        limit = _BENTO_NAME_MAX - len(_BENTO_SUFFIX)
        raise RegistryError(
            f"model name {model_name!r} is too long to name its bento {name!r}: a model that "
            f"is built into a bento needs a name of at most {limit} characters."
        )
    return name


def resolve_bento(bento_tag: str | None, model_name: str = MODEL_NAME) -> str:
    """The exact tag of ``bento_tag``; none means the newest bento of ``model_name``."""
    import bentoml

    wanted = bento_tag or f"{bento_name(model_name)}:latest"
    hint = ": build one with `make build-bento`, or list them with `bentoml list`."
    return exact_tag(bentoml.bentos.get, wanted, "bento", hint)
