"""Intake settings, read once from the environment (prefix FEEDBACKLOOP_INTAKE_)."""

import base64
import binascii
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets: usable on a laptop, refused when FEEDBACKLOOP_ENV=production.
DEV_CONTACT_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk="
DEV_WECHAT_TOKEN = "feedbackloop-dev-token"
DEV_OPEN311_KEY = "dev-open311-key"

# The checkout; the shared data sits next to it (../shared/data) and is never copied in.
_REPO_ROOT = Path(__file__).resolve().parents[2]


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
    max_batch_bytes: int = Field(
        default=32 * 1024 * 1024, description="Cap of the hotline JSONL batch endpoint."
    )
    relay_enabled: bool = Field(
        default=True,
        description="Run the outbox relay here; off for API-only replicas sharing one store.",
    )
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_idle_seconds: float = Field(
        default=1.0, gt=0, description="How often the relay looks for rows it was not told of."
    )
    contact_key: str = Field(
        default=DEV_CONTACT_KEY,
        description="Fernet key (urlsafe base64, 32 bytes) encrypting phone numbers; followup "
        "needs the same key to text citizens back.",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_INTAKE_CONTACT_KEY", "FEEDBACKLOOP_CONTACT_KEY", "contact_key"
        ),
    )
    rate_limit_per_minute: int = Field(
        default=20, ge=1, description="Items one IP, openid or phone may submit per minute."
    )
    wechat_token: str = DEV_WECHAT_TOKEN
    wechat_app_id: str = "wx0000000000000000"
    wechat_encoding_aes_key: str | None = Field(
        default=None, description="43-character EncodingAESKey; set it for safe (AES) mode."
    )
    open311_api_keys: list[str] = Field(default_factory=lambda: [DEV_OPEN311_KEY])
    status_url_template: str = Field(
        default="http://127.0.0.1:8003/t/{ticket_no}",
        description="Where a citizen checks a ticket; {ticket_no} is filled in.",
    )
    read_model_enabled: bool = Field(
        default=True, description="Follow ticket.events for WeChat progress queries."
    )
    taxonomy_path: Path = Field(
        default=_REPO_ROOT.parent / "shared" / "data" / "taxonomy.csv",
        description="The three-level complaint taxonomy (CSV); the Open311 services come from it.",
    )
    form_districts: list[str] = Field(
        default_factory=lambda: [f"A{n}区" for n in range(1, 7)] + ["A7县", "A8县", "A9市"],
        description="Districts (区县) offered on the /form page; others are refused.",
    )

    @field_validator("wechat_encoding_aes_key")
    @classmethod
    def _aes_key_is_43_base64_chars(cls, value: str | None) -> str | None:
        # Checked at start, so a mistyped key stops intake instead of failing each callback.
        if not value:
            return None
        try:
            key = base64.b64decode(value + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(value) != 43 or len(key) != 32:
            raise ValueError("wechat_encoding_aes_key must be WeChat's 43-character EncodingAESKey")
        return value

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            defaults = {
                "contact_key": self.contact_key == DEV_CONTACT_KEY,
                "wechat_token": self.wechat_token == DEV_WECHAT_TOKEN,
                "open311_api_keys": DEV_OPEN311_KEY in self.open311_api_keys,
            }
            used = [name for name, is_default in defaults.items() if is_default]
            if used:
                raise ValueError(f"development secrets are not allowed in production: {used}")
        return self
