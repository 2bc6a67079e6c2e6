"""Metrics settings, read once from the environment (prefix FEEDBACKLOOP_METRICS_)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from feedbackloop.web.proxies import TrustedProxies, trusted_proxies_field


class Settings(BaseSettings):
    """Everything the metrics service can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_METRICS_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_METRICS_KAFKA_BOOTSTRAP",
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP",
            "kafka_bootstrap",
        ),
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_METRICS_TOPIC_PARTITIONS",
            "FEEDBACKLOOP_TOPIC_PARTITIONS",
            "topic_partitions",
        ),
    )
    host: str = "127.0.0.1"
    port: int = 8004
    trusted_proxies: TrustedProxies = trusted_proxies_field("metrics")
    max_body_bytes: int = Field(
        default=4 * 1024, ge=1024, description="No route takes a body; larger ones get 413."
    )
    dedup_window: int = Field(
        default=200_000, ge=1, description="How many recent event ids are remembered."
    )
