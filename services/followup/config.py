"""Followup settings, read once from the environment (prefix FEEDBACKLOOP_FOLLOWUP_)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything followup can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_FOLLOWUP_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_FOLLOWUP_KAFKA_BOOTSTRAP",
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP",
            "kafka_bootstrap",
        ),
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_FOLLOWUP_TOPIC_PARTITIONS",
            "FEEDBACKLOOP_TOPIC_PARTITIONS",
            "topic_partitions",
        ),
    )
    database_url: str = "sqlite:///.var/followup.db"
    host: str = "127.0.0.1"
    port: int = 8003
