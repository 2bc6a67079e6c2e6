"""Router settings, read once from the environment (prefix FEEDBACKLOOP_ROUTER_)."""

import functools
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from feedbackloop.settings import ServiceSettings, in_state_dir, sqlite_in_state_dir

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")
DEV_OPERATOR_TOKEN = "dev-operator-token"


class Settings(ServiceSettings):
    """Everything the router can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_ROUTER_", extra="ignore")

    batch_size: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Items routed together (the model is faster "
        "per item in batches; a batch's offsets are committed once its records are delivered).",
    )
    rules_path: Path = DEFAULT_RULES
    model_dir: Path = Field(
        default_factory=in_state_dir("models", "router"),
        description="The trained category model (`feedbackloop router train` writes it) "
        "[models/router in the state dir].",
    )
    confidence_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Overrides the threshold chosen at training."
    )
    database_url: str = Field(
        default_factory=sqlite_in_state_dir("router.db"),
        description="The store of triage choices [SQLite router.db in the state dir].",
    )
    operator_token: str = Field(
        default=DEV_OPERATOR_TOKEN, description="Bearer token of the 12345 centre's operators."
    )
    duplicate_window_hours: float = Field(default=72, gt=0, description="Near-duplicate window.")
    max_body_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Cap of JSON and form bodies; larger get 413."
    )
    port: int = 8002

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> "Settings":
        if self.environment == "production" and self.operator_token == DEV_OPERATOR_TOKEN:
            raise ValueError("the development operator token is not allowed in production")
        return self


@functools.cache
def get_settings() -> Settings:
    """The router's settings, read from the environment once per process."""
    return Settings()
