"""Metrics settings, read once from the environment (prefix FEEDBACKLOOP_METRICS_)."""

import functools
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from feedbackloop.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the metrics service can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_METRICS_", extra="ignore")

    port: int = 8004
    max_body_bytes: int = Field(
        default=4 * 1024, ge=1024, description="No route takes a body; larger ones get 413."
    )
    dedup_window: int = Field(
        default=200_000, ge=1, description="How many recent event ids are remembered."
    )
    batch_size: int = Field(
        default=500, ge=1, le=100_000, description="Records folded per batch, at most."
    )
    scoring_path: Path = Field(
        default=Path(__file__).with_name("scoring.yaml"),
        description="Weights and deductions of the monthly scoring (考核).",
    )
    watch_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often the pipeline's lag is measured and new partitions looked for.",
    )


@functools.cache
def get_settings() -> Settings:
    """The metrics service's settings, read from the environment once per process."""
    return Settings()
