"""Luigi wiring only: each task reads its input, calls one function, writes one output.

The stages, in the data's order: ``inputs`` (Preprocess, Split) → ``candidates``
(TrainCandidate, EvaluateCandidate, SelectModel, RefitModel) → ``register`` (RegisterModel,
GateModel) → ``entry`` (TrainingPipeline, the wrapper). ``cache`` names each stage's output
folder by its fingerprint, like ``dvc repro``; ``training`` runs the pipeline from Python
(the CLI's ``train``); ``batch`` and ``monitor`` are the other tasks. The work itself lives in
the parts below (data, model, lifecycle, monitoring, batch), which know nothing of Luigi.

May import: every part (data, model, lifecycle, monitoring, batch), never serving or the
other fronts.
"""

from __future__ import annotations

from pathlib import Path

import luigi.configuration

from mle_challenge.pipeline.batch import BatchPredict
from mle_challenge.pipeline.cache import StageTarget, code_version, fingerprint
from mle_challenge.pipeline.candidates import (
    EvaluateCandidate,
    RefitModel,
    SelectModel,
    TrainCandidate,
)
from mle_challenge.pipeline.entry import TrainingPipeline
from mle_challenge.pipeline.inputs import Preprocess, Split
from mle_challenge.pipeline.monitor import MonitorAlarm, MonitorModel, run_monitor
from mle_challenge.pipeline.register import GateModel, RegisterModel, features_frame
from mle_challenge.pipeline.training import TrainingOutcome, run_training

# The `luigi` command reads [retcode] from its config; ship ours with the package so that
# `luigi --module mle_challenge.pipeline` exits non-zero when a task fails.
luigi.configuration.add_config_path(str(Path(__file__).parent.with_name("luigi.cfg")))

__all__ = [
    "BatchPredict",
    "EvaluateCandidate",
    "GateModel",
    "MonitorAlarm",
    "MonitorModel",
    "Preprocess",
    "RefitModel",
    "RegisterModel",
    "SelectModel",
    "Split",
    "StageTarget",
    "TrainCandidate",
    "TrainingOutcome",
    "TrainingPipeline",
    "code_version",
    "features_frame",
    "fingerprint",
    "run_monitor",
    "run_training",
]
