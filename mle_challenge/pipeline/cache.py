"""Caching like ``dvc repro``: each stage's output folder is named by its fingerprint.

A fingerprint hashes the fingerprint of the stage's input (ultimately the listings file's
content hash), its own parameter section and the source of the modules that do its work
(:func:`code_version`). Re-running with nothing changed finds every output and runs nothing.
Outputs are written through ``temporary_path()``, so a killed task leaves nothing that looks
complete.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import luigi

from mle_challenge.lifecycle.outputs import Outputs
from mle_challenge.pipeline.progress import Progress, StageReporter


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_version(*modules: str) -> str:
    """A hash of the modules' source: editing a stage's code invalidates its outputs.

    Modules are named, not imported, so checking what is complete stays fast. A name with a
    slash is a package data file (``project/airbnb.yaml``: the declaration a stage reads).
    """
    digest = hashlib.sha256()
    for name in modules:
        if "/" in name:
            digest.update((Path(__file__).parents[1] / name).read_bytes())
            continue
        spec = find_spec(f"mle_challenge.{name}")
        assert spec is not None and spec.origin is not None, name
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


class _Stage(luigi.Task):
    """A task whose output folder is named by its fingerprint."""

    root = luigi.Parameter(default="outputs", description="Folder for all pipeline outputs.")
    stage: str = ""
    filename: str = ""

    def code(self) -> str:
        raise NotImplementedError

    def own_params(self) -> Any:
        return None

    @cached_property
    def fingerprint(self) -> str:
        upstream = self.requires()
        parent = upstream.fingerprint if isinstance(upstream, _Stage) else None
        return fingerprint(self.stage, parent, self.own_params(), self.code())

    @property
    def outputs(self) -> Outputs:
        return Outputs(str(self.root))

    @property
    def relative(self) -> str:
        return f"cache/{self.stage}/{self.fingerprint}"

    @property
    def folder(self) -> Path:
        """Where this stage writes, on this machine (a mirror when the outputs are shared)."""
        return self.outputs.local / self.relative

    def output(self) -> StageTarget:
        return StageTarget(self.outputs, self.relative, self.filename)

    def run(self) -> None:
        self._reporter = StageReporter(self.label, self._status, self._percentage)
        self._progress(0, "started")
        self.produce()
        self.outputs.publish(self.relative, self.filename)  # shared outputs: output file last
        self._progress(100, "done")

    @property
    def label(self) -> str:
        """How progress names this stage (stages of one candidate add its name)."""
        candidate = getattr(self, "candidate", None)
        return f"{self.stage} {candidate}" if candidate else self.stage

    def produce(self) -> None:
        """Write this stage's folder, its output file last (atomically)."""
        raise NotImplementedError

    def _written(self) -> luigi.LocalTarget:
        """The output file as this run writes it: ``temporary_path()`` renames it into place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = luigi.LocalTarget(str(self.folder / self.filename))
        # A stage found stale by complete() runs again over its old output, which Luigi's
        # temporary_path() will not overwrite.
        Path(target.path).unlink(missing_ok=True)
        return target

    def _write_json(self, payload: Any) -> None:
        with self._written().temporary_path() as tmp:
            Path(tmp).write_text(json.dumps(payload, indent=2, default=str))

    def on_failure(self, exception: BaseException) -> Any:
        from mle_challenge.lifecycle.failures import explain

        return explain(exception) or super().on_failure(exception)  # ours: one line, no trace

    def _progress(self, percent: int | None, message: str) -> None:
        """A step of this stage: a line on stderr with the elapsed time, and luigid's status
        message and percentage (None: the percentage stays as it was)."""
        reporter = getattr(self, "_reporter", None)
        if reporter is None:  # produce() called outside run(), as tests do
            reporter = self._reporter = StageReporter(self.label, self._status, self._percentage)
        reporter(message, percent)

    def progress(self) -> Progress:
        """The callback model code reports its steps through ("fold 2 of 5 fitted")."""
        return lambda message: self._progress(None, message)

    def _status(self, message: str) -> None:
        # Luigi's worker assigns these callbacks at run time; its type hints say None.
        self.set_status_message(message)  # type: ignore[misc]

    def _percentage(self, percent: int) -> None:
        self.set_progress_percentage(percent)  # type: ignore[misc]


class StageTarget(luigi.Target):
    """A stage's output file: complete once published; ``path`` is its copy on this machine,
    fetched from shared outputs the first time it is read."""

    def __init__(self, outputs: Outputs, folder: str, filename: str) -> None:
        self.outputs, self.folder, self.filename = outputs, folder, filename

    def exists(self) -> bool:
        return self.outputs.exists(f"{self.folder}/{self.filename}")

    @property
    def path(self) -> str:
        return str(self.outputs.fetch(self.folder, self.filename) / self.filename)


def _plain(value: Any) -> Any:
    """Luigi's frozen dicts → plain JSON-able values."""
    return json.loads(json.dumps(value, default=dict))
