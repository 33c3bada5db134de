"""The pipeline's entry point: one wrapper task from the parameter file to the gated model."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import luigi

from mle_challenge.data.sources import file_sha256
from mle_challenge.pipeline.register import GateModel, RegisterModel

_PARAMS_HELP = "The parameter file (default: ./params.yaml if there is one, else the packaged one)."


class TrainingPipeline(luigi.WrapperTask):
    """Entry point: raw listings → registered model, with every stage cached by content."""

    listings = luigi.Parameter(description="Path, http(s):// or s3:// URL of raw listings.")
    params = luigi.Parameter(default="", description=_PARAMS_HELP)
    root = luigi.Parameter(default="outputs", description="Folder for all pipeline outputs.")
    model_name = luigi.Parameter(
        default="", description="The registered name (default: the params' register.model_name)."
    )

    @cached_property
    def _gate_task(self) -> GateModel:
        from mle_challenge.config import check_model_name, load_params, params_source
        from mle_challenge.lifecycle import production

        p = load_params(params_source(str(self.params) or None).path)
        if self.model_name:
            # The name is part of `register`, so of the cache key: the same data under two
            # names gives two models, each with its own production alias.
            named = {"model_name": check_model_name(str(self.model_name))}
            p = p.model_copy(update={"registry": p.registry.model_copy(update=named)})
        values: dict[str, Any] = {
            "root": self.root,
            "listings": self.listings,
            "data_hash": file_sha256(str(self.listings)),
            "split": p.split.model_dump(),
            "prices": p.prices.model_dump(),
            "candidates": {
                k: v.model_dump(exclude_none=True) for k, v in p.train.candidates.items()
            },
            "select": p.select.model_dump(),
            "register": p.registry.model_dump(),
            "gate": p.gate.model_dump(),
            "against": production.production_tag(p.registry.model_name) or "",
        }
        return GateModel(**values)

    @property
    def _register_task(self) -> RegisterModel:
        return self._gate_task.requires()

    def requires(self) -> GateModel:
        return self._gate_task

    def gate_result(self) -> dict[str, Any]:
        return dict(json.loads(Path(self._gate_task.output().path).read_text()))

    def registered(self) -> dict[str, Any]:
        """The registration record (tag, selection, metrics) once the pipeline has run."""
        return dict(json.loads(Path(self._register_task.output().path).read_text()))
