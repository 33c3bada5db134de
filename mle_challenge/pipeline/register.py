"""The last stages: register the chosen model, then gate it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import luigi

from mle_challenge.pipeline.cache import _plain, _Stage, code_version
from mle_challenge.pipeline.candidates import RefitModel
from mle_challenge.pipeline.inputs import Split, _load_split, _SelectParams


class RegisterModel(_Stage, _SelectParams):
    """The chosen model → ``<register.model_name>:<version>`` in the BentoML model store
    (``price_classifier`` unless the params or ``train --model-name`` say otherwise)."""

    register = luigi.DictParameter(description="The `register` section of params.yaml.")
    stage, filename = "register", "registered.json"

    def requires(self) -> RefitModel:
        return self.clone(RefitModel)

    def code(self) -> str:
        return code_version(
            "lifecycle.registration",
            "project/airbnb.yaml",  # saved in the model
            "lifecycle.registry",
            "lifecycle.store",
            "monitoring.profile",
            "model.city",
        )

    def complete(self) -> bool:
        """Done only while the recorded model is in this run's store and intact: after it is
        deleted, damaged, or with another ``BENTOML_HOME``, the stage registers again."""
        from mle_challenge.errors import MleError
        from mle_challenge.lifecycle import shared, store

        if not super().complete():
            return False
        try:
            tag = json.loads(Path(self.output().path).read_text())["tag"]
        except (MleError, OSError, ValueError, KeyError):
            return False
        try:
            store.verified(tag)
        except (MleError, OSError, ValueError, KeyError):
            # Another machine registered it: done when the shared registry has it (it is
            # pulled, and verified, where it is needed).
            return shared.is_published(tag)
        return True

    def own_params(self) -> Any:
        return dict(self.register)

    def produce(self) -> None:
        import joblib

        from mle_challenge.lifecycle import registration, registry, shared

        refit_task = self.requires()
        refit = json.loads(Path(self.input().path).read_text())
        selected = Path(refit_task.input().path)
        selection = json.loads(selected.read_text())
        table, parts = _load_split(self)
        report = Path(self.clone(Split).input().path).with_name("report.json")
        facts = registration.assemble(
            table,
            parts,
            selection,
            refit,
            params={
                "split": _plain(self.split),
                "select": _plain(self.select),
                "candidates": _plain(self.candidates),
            },
            neighbourhood_source=json.loads(report.read_text()).get("neighbourhood_source", {}),
            reference=_reference_files,
        )
        self._progress(20, f"registering {facts.candidate}")
        # The model file as this machine has it (``model_path`` in the selection is where the
        # machine that selected it kept it).
        if refit["refit"]:
            model_file = Path(self.input().path).parent / "model.joblib"
        else:
            model_file = Path(refit_task.selected_model().path)
        tag = registry.register_model(
            joblib.load(model_file),
            fingerprint=self.fingerprint,
            candidate=facts.candidate,
            metrics=facts.metrics,
            params=facts.params,
            data_fingerprint=str(self.data_hash),
            report_path=refit["report"],
            name=str(self.register["model_name"]),
            extra_files=facts.extra_files,
            city=facts.city,
        )
        if shared.push_registered(tag):  # MLE_REGISTRY: every machine can pull it
            self._progress(90, f"pushed {tag} to the shared registry")
        self._write_json(
            {"tag": tag, **selection, "report": refit["report"], "metrics": facts.metrics}
            | {"refit": refit}
        )
        self._progress(100, f"registered {tag}")


def _reference_files(rows: Any, confusion: Any) -> dict[str, bytes]:
    """The drift reference monitoring reads, as the model's extra file."""
    from mle_challenge.monitoring import profile

    return {profile.PROFILE_FILE: profile.profile_bytes(profile.build_profile(rows, confusion))}


class GateModel(_Stage, _SelectParams):
    """The registered model → its gate result (also kept on its card, for ``promote``).

    ``against`` is the production model when the run was scheduled: a new production model
    makes the regression check, and so this stage, run again.
    """

    register = luigi.DictParameter(description="The `register` section of params.yaml.")
    gate = luigi.DictParameter(description="The `gate` section of params.yaml.")
    against = luigi.Parameter(default="", description="Production model to compare with.")
    stage, filename = "gate", "gate.json"

    def requires(self) -> RegisterModel:
        return self.clone(RegisterModel)

    def complete(self) -> bool:
        # Luigi does not look below a complete task: a gate result stands only while the model
        # it judged is still registered and intact.
        return bool(super().complete() and self.requires().complete())

    def code(self) -> str:
        return code_version(
            *("lifecycle.gate", "model.predictor", "model.decision", "model.fastpath"),
            *("model.schema", "project/airbnb.yaml"),  # the gate's cases are declared there
        )

    def own_params(self) -> Any:
        return {"gate": dict(self.gate), "against": str(self.against)}

    def produce(self) -> None:
        from mle_challenge.config import GateParams
        from mle_challenge.lifecycle import shared, store
        from mle_challenge.lifecycle.gate import run_gate

        # Registered here, or by another machine and pulled from the shared registry.
        tag = shared.ensure_local(json.loads(Path(self.input().path).read_text())["tag"])
        table, parts = _load_split(self)
        rows = table[table["id"].isin(parts["test"])]
        held_out = features_frame(rows)
        self.folder.mkdir(parents=True, exist_ok=True)
        held_out_path = self.folder / "held_out.parquet"
        held_out.to_parquet(held_out_path, index=False)
        self._progress(30, f"gating {tag} on {len(held_out):,} held-out rows")
        result = run_gate(tag, held_out, GateParams(**dict(self.gate)), str(self.against) or None)
        store.update_card(tag, gate=result.as_dict(), held_out=str(held_out_path.resolve()))
        self._write_json(result.as_dict())
        self._progress(100, f"gate {'passed' if result.passed else 'FAILED'}")


def features_frame(rows: Any) -> Any:
    """Held-out rows as the gate reads them: the API columns, ``id`` and ``category``."""
    from mle_challenge.model import features

    frame = features.to_model_input(rows)
    return frame.assign(id=rows["id"].to_numpy(), category=rows["category"].astype(str).to_numpy())
