"""Intake settings, read once from the environment (prefix FEEDBACKLOOP_INTAKE_)."""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything intake can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_INTAKE_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development", validation_alias=AliasChoices("FEEDBACKLOOP_ENV", "environment")
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_INTAKE_KAFKA_BOOTSTRAP", "FEEDBACKLOOP_KAFKA_BOOTSTRAP", "kafka_bootstrap"
        ),
    )
    database_url: str = "sqlite:///.var/intake.db"
    host: str = "127.0.0.1"
    port: int = 8001
    node: int = Field(
        default=1, ge=0, le=9, description="Digit that keeps ticket numbers of replicas apart."
    )
    max_body_bytes: int = Field(default=64 * 1024, description="Larger requests get 413.")
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_idle_seconds: float = Field(
        default=1.0, gt=0, description="How often the relay looks for rows it was not told of."
    )
