"""One typed settings object, built when asked for (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings, read from ``MLE_*`` environment variables.

    S3-compatible stores are reached through the standard ``AWS_ENDPOINT_URL`` and the usual
    AWS credential variables, so the same commands work against AWS and any compatible store.
    """

    model_config = SettingsConfigDict(env_prefix="MLE_", extra="ignore")

    data_dir: Path | None = Field(
        default=None, description="Folder holding the real NYC data (tests and benchmarks only)."
    )
    outputs_dir: Path = Field(
        default=Path("outputs"), description="Where pipeline artifacts are written."
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL",
        description="Endpoint of an S3-compatible store; unset means AWS itself.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once from the environment on first use."""
    return Settings()
