"""One typed settings object, built when asked for (never at import time), and params.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from mle_challenge.errors import ConfigError

MODEL_NAME = "price_classifier"
"""The registered name of the price classifier when none is chosen (the first city, NYC).
Several cities share one store under names of their own: ``price_classifier_boston``."""

# BentoML's own rule for a tag's name (bentoml/_internal/tag.py), checked before BentoML sees
# the name: our alias folders and S3 keys are named after it too.
_NAME = re.compile(r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$")
_NAME_MAX = 63
NAME_RULE = (
    f"a model name is 1 to {_NAME_MAX} lowercase letters, digits, '_', '-' or '.', starting "
    "and ending with a letter or digit (e.g. price_classifier_boston)"
)


def model_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a registered model, or None when it can."""
    if len(name) > _NAME_MAX or _NAME.match(name) is None:
        return f"invalid model name {name!r}: {NAME_RULE}"
    return None


def _valid_model_name(name: str) -> str:
    problem = model_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


ModelName = Annotated[str, AfterValidator(_valid_model_name)]
"""A registered model's name, checked by BentoML's rule (in a pydantic model)."""


def check_model_name(name: str) -> str:
    """``name`` when it can name a registered model; else :class:`ConfigError` saying the rule."""
    problem = model_name_problem(name)
    if problem is not None:
        raise ConfigError(problem)
    return name


class Settings(BaseSettings):
    """Process-wide settings, read from ``MLE_*`` environment variables.

    S3-compatible stores are reached through the standard ``AWS_ENDPOINT_URL`` and the usual
    AWS credential variables, so the same commands work against AWS and any compatible store.
    """

    model_config = SettingsConfigDict(env_prefix="MLE_", extra="ignore")

    data_dir: Path | None = Field(
        default=None, description="Folder holding the real NYC data (tests and benchmarks only)."
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL",
        description="Endpoint of an S3-compatible store; unset means AWS itself.",
    )
    model_tag: str | None = Field(
        default=None,
        description="Model the service serves (name:version). Unset: the model a bento was "
        "built with, else the production model of MLE_MODEL_NAME, else its newest.",
    )
    model_name: str | None = Field(
        default=None,
        description="Whose model a service run from source serves when MLE_MODEL_TAG is not "
        f"set, one name per city (price_classifier_boston). Unset: {MODEL_NAME}. A bento "
        "serves the model it was built with: set, it must be that model's name.",
    )
    serve_workers: int | Literal["cpu_count"] = Field(
        default="cpu_count", description="Service worker processes, each with its own model."
    )
    access_log: bool = Field(
        default=False,
        description="Log every request. Off by default: it costs about a fifth of throughput.",
    )
    fast_classify: bool = Field(
        default=True,
        description="Answer POST /classify in the request guard, past BentoML's per-API "
        "machinery (same validation, model and response model; BentoML's tracing, metrics "
        "and timeout still apply). About twice the requests/s; false serves it by BentoML.",
    )
    max_batch: int = Field(default=1000, ge=1, description="Most listings per /classify_batch.")
    max_decompression_ratio: float = Field(
        default=100.0,
        ge=1,
        description="A compressed listings file (.gz, .bz2...) may expand this many times "
        "when read, no more (past its first 8 MiB): a decompression bomb is refused in one "
        "line. Listings files expand about 4 to 11 times.",
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest request body the service accepts."
    )
    max_header_bytes: int = Field(
        default=32_768,
        ge=1024,
        description="Largest request headers (all of them, with the request line) the service "
        "accepts; then 431 and close.",
    )
    max_headers: int = Field(
        default=100, ge=1, description="Most request headers the service accepts; then 431."
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's headers, from connecting (or "
        "from the request's first byte on a kept-alive connection); then 408 and close.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a client has to send a request's body once its headers are in; "
        "then 408.",
    )
    drain_grace: float = Field(
        default=1.0,
        ge=0,
        description="On SIGTERM, seconds an idle kept-alive connection stays open so that a "
        "request already on its way is answered (with Connection: close) rather than reset.",
    )
    prediction_log: str = Field(
        default="default",
        description="Where the service logs every answer: a database URL (sqlite:///path, "
        "postgresql://user:password@host/db), default (SQLite beside the model store) or off.",
    )
    follow_production: bool | None = Field(
        default=None,
        description="Each service worker follows the production alias (local, or the shared "
        "registry): a new or rolled-back production model is pulled, verified, loaded in the "
        "background and swapped in between requests. Off: the service keeps its one model. "
        "Unset: as the bento was built (`bento build --follow`), else off.",
    )
    follow_seconds: float = Field(
        default=30.0, gt=0, description="How often a following worker reads the alias."
    )
    registry: str | None = Field(
        default=None,
        description="A shared registry for several machines, s3://bucket/prefix: registered "
        "models are pushed there, and the production alias and its history live there. Unset: "
        "the local BentoML store is the registry.",
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description="Shared secret that signs pushed manifests (HMAC-SHA256) and checks pulled "
        "ones; at least 32 characters, e.g. from `openssl rand -hex 32`.",
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, name: str | None) -> str | None:
        if not name:
            return None  # set but empty: the default
        problem = model_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name

    @field_validator("signing_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not key.get_secret_value():
            return None  # set but empty: no key
        if key is not None and len(key.get_secret_value()) < 32:
            raise ValueError(
                "MLE_SIGNING_KEY must be at least 32 characters (openssl rand -hex 32)"
            )
        return key


def validation_message(msg: str) -> str:
    """A pydantic error message without the prefix pydantic puts on our validators' own."""
    return msg.removeprefix("Value error, ")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once from the environment on first use."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MLE_{'_'.join(str(p) for p in e['loc']).upper()}: {validation_message(e['msg'])}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid environment setting: {problems}") from exc


# --- pipeline parameters (params.yaml) ---


class SplitParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    test_size: float = Field(0.15, gt=0, lt=0.5)
    validation_size: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 1


class PricesParams(BaseModel):
    """The price categories: the nightly prices, in the listings' own currency, up to which a
    listing is Low, Mid and High (above the last: Lux); or ``quantile``, the training prices'
    quartiles, so that the four categories mean the same in any currency."""

    model_config = ConfigDict(extra="forbid")
    edges: tuple[float, float, float] | Literal["quantile"] = (90.0, 180.0, 400.0)

    @field_validator("edges", mode="before")
    @classmethod
    def _edges(cls, edges: Any) -> Any:
        if edges == "quantile":
            return edges
        if not isinstance(edges, list | tuple) or len(edges) != 3:
            raise ValueError(
                "give three nightly prices, the upper bounds of Low, Mid and High, such as "
                "[90, 180, 400], or `quantile` for the training prices' quartiles"
            )
        return edges

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: Any) -> Any:
        if edges != "quantile" and not (10 < edges[0] < edges[1] < edges[2]):
            raise ValueError(
                f"the edges {list(edges)} must increase and start above 10 (cleaning drops "
                "prices below 10): such as [90, 180, 400]"
            )
        return edges


class DecisionSpec(BaseModel):
    """Answer by the macro-F1 rule of ``mle_challenge.model.decision``, tuned on ``folds`` folds."""

    model_config = ConfigDict(extra="forbid")
    folds: int = Field(5, ge=2, le=20)


class CandidateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    decision: DecisionSpec | None = None  # None: plain argmax of the probabilities


class TrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: dict[str, CandidateSpec] = Field(min_length=1)


class SelectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: Literal["accuracy", "macro_f1", "roc_auc_ovr"] = "macro_f1"
    # After selection, fit the chosen candidate again on training plus validation rows (its
    # settings, early stopping's rounds scaled to the larger set, its decision rule): the
    # validation rows only chose it. The test rows still judge it.
    refit: bool = True


class RegisterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: ModelName = Field(
        MODEL_NAME, description="The registered name: one per city (`train --model-name`)."
    )


class GateParams(BaseModel):
    """What a model must show on held-out rows before it can be promoted."""

    model_config = ConfigDict(extra="forbid")
    min_accuracy: float = Field(0.6, ge=0, le=1)
    min_macro_f1: float = Field(0.5, ge=0, le=1)
    min_roc_auc_ovr: float = Field(0.8, ge=0, le=1)
    max_regression: float = Field(
        0.01, ge=0, le=1, description="Macro-F1 may be this much below production's, no more."
    )
    min_unseen_rows: int = Field(
        200,
        ge=1,
        description="The comparison with production uses the test rows production did not "
        "train on; with fewer, it is skipped (it would judge production on what it learned).",
    )
    directional_min_share: float = Field(0.9, ge=0, le=1)


class MonitorParams(BaseModel):
    """When monitoring raises an alarm (a non-zero exit status); see docs/monitoring.md."""

    model_config = ConfigDict(extra="forbid")
    min_rows: int = Field(
        200, ge=1, description="Smaller windows (or fewer joined predictions) are not judged."
    )
    psi: float = Field(
        0.1, gt=0, description="A field drifts when its PSI reaches this and its test rejects."
    )
    p_value: float = Field(0.01, gt=0, lt=1, description="The tests' significance level.")
    max_drift_share: float = Field(
        0.25, gt=0, le=1, description="Alarm when at least this share of the fields drift."
    )
    max_prediction_psi: float = Field(
        0.1, gt=0, description="Alarm when the predicted class mix moves this far (PSI)."
    )
    max_accuracy_drop: float = Field(
        0.05, ge=0, le=1, description="Alarm when realized accuracy is this far below test's."
    )
    max_macro_f1_drop: float = Field(
        0.05, ge=0, le=1, description="Alarm when realized macro-F1 is this far below test's."
    )


class Params(BaseModel):
    """Every pipeline parameter, one section per stage."""

    model_config = ConfigDict(extra="forbid")
    prices: PricesParams = Field(default_factory=PricesParams)
    split: SplitParams = Field(default_factory=SplitParams)
    train: TrainParams
    select: SelectParams = Field(default_factory=SelectParams)
    # "register" would shadow BaseModel.register; the YAML key stays `register`.
    registry: RegisterParams = Field(default_factory=RegisterParams, alias="register")
    gate: GateParams = Field(default_factory=GateParams)
    monitor: MonitorParams = Field(default_factory=MonitorParams)


# The defaults shipped inside the package: a copy of the project's top-level params.yaml, kept
# identical by tests/unit/test_params_source.py. The package is always installed as files.
PACKAGED_PARAMS = Path(__file__).with_name("params.yaml")


@dataclass(frozen=True)
class ParamsSource:
    """The parameter file a command reads, and why that one."""

    path: Path  # absolute, so a Luigi parameter or a child process gets the same file
    origin: Literal["--params", "current folder", "packaged defaults"]

    def describe(self) -> str:
        """One line for a run's summary: ``parameters: /abs/params.yaml (packaged defaults)``."""
        return f"parameters: {self.path} ({self.origin})"


def params_source(given: str | Path | None, folder: Path | None = None) -> ParamsSource:
    """Which parameter file to read: ``given`` (``--params``) when there is one, which must
    exist; else ``params.yaml`` in ``folder`` (default: the current folder), so a command run
    inside the project reads the project's file; else the packaged defaults."""
    if given is not None:
        path = Path(given).absolute()
        if not path.is_file():
            raise ConfigError(
                f"parameter file not found: {path} (given by --params). Correct the path, or "
                "leave out --params to use ./params.yaml, else the packaged defaults."
            )
        return ParamsSource(path, "--params")
    local = (folder or Path.cwd()).absolute() / "params.yaml"
    if local.is_file():
        return ParamsSource(local, "current folder")
    return ParamsSource(PACKAGED_PARAMS, "packaged defaults")


def read_yaml(file: Path, what: str, option: str) -> Any:
    """The YAML in ``file`` (a ``what`` file, named by ``option``); one clear error if it is
    absent or not YAML."""
    try:
        return yaml.safe_load(file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} file not found: {file}. Pass {option} PATH.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file} is not valid YAML: {exc}") from exc


def load_params(path: str | Path) -> Params:
    """Read and validate ``params.yaml``; errors name the file and the offending key."""
    file = Path(path)
    raw = read_yaml(file, "parameter", "--params")
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {validation_message(e['msg'])}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid parameters in {file}: {problems}") from exc
