"""Router settings, read once from the environment (prefix FEEDBACKLOOP_ROUTER_)."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from feedbackloop.web.proxies import TrustedProxies, trusted_proxies_field

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")
DEV_OPERATOR_TOKEN = "dev-operator-token"


class Settings(BaseSettings):
    """Everything the router can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_ROUTER_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_ROUTER_KAFKA_BOOTSTRAP", "FEEDBACKLOOP_KAFKA_BOOTSTRAP", "kafka_bootstrap"
        ),
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_ROUTER_TOPIC_PARTITIONS",
            "FEEDBACKLOOP_TOPIC_PARTITIONS",
            "topic_partitions",
        ),
    )
    batch_size: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Items routed together (the model is faster "
        "per item in batches; a batch's offsets are committed once its records are delivered).",
    )
    rules_path: Path = DEFAULT_RULES
    model_dir: Path = Field(
        default=Path(".var/models/router"),
        description="The trained category model (`feedbackloop router train` writes it).",
    )
    confidence_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Overrides the threshold chosen at training."
    )
    database_url: str = "sqlite:///.var/router.db"
    operator_token: str = Field(
        default=DEV_OPERATOR_TOKEN, description="Bearer token of the 12345 centre's operators."
    )
    environment: Literal["development", "production"] = Field(
        default="development", validation_alias=AliasChoices("FEEDBACKLOOP_ENV", "environment")
    )
    duplicate_window_hours: float = Field(default=72, gt=0, description="Near-duplicate window.")
    hotspot_items: int = Field(default=5, ge=2, description="Items about one place for a hotspot.")
    hotspot_window_hours: float = Field(default=24, gt=0, description="Hotspot window, hours.")
    max_body_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Cap of JSON and form bodies; larger get 413."
    )
    host: str = "127.0.0.1"
    port: int = 8002
    trusted_proxies: TrustedProxies = trusted_proxies_field("router")

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> "Settings":
        if self.environment == "production" and self.operator_token == DEV_OPERATOR_TOKEN:
            raise ValueError("the development operator token is not allowed in production")
        return self
