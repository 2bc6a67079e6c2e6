"""Followup settings, read once from the environment (prefix FEEDBACKLOOP_FOLLOWUP_)."""

import functools
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from feedbackloop.settings import ServiceSettings, sqlite_in_state_dir
from feedbackloop.web.status_links import DEV_STATUS_LINK_KEY
from services.followup.sla import DEFAULT_POLICIES

# Development-only secrets: usable on a laptop, refused when FEEDBACKLOOP_ENV=production.
DEV_SURVEY_SECRET = "dev-survey-secret-not-for-production"
DEV_SESSION_SECRET = "dev-session-secret-not-for-production"
#: The same development key as intake's: phone numbers sealed there are opened here.
DEV_CONTACT_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk="


class Settings(ServiceSettings):
    """Everything followup can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_FOLLOWUP_", extra="ignore")

    app_id: str = Field(
        default="feedbackloop-followup",
        description="Kafka consumer group; replicas of one deployment share it.",
    )
    database_url: str = Field(
        default_factory=sqlite_in_state_dir("followup.db"),
        description="The store [SQLite followup.db in the state dir].",
    )
    port: int = 8003
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Cap of JSON and form bodies; larger get 413."
    )
    sla_policies: Path = Field(default=DEFAULT_POLICIES, description="SLA policy YAML file.")
    staff_webhooks: dict[str, str] = Field(
        default={},
        description="督办 ladder notices (JSON): a recipient of sla.yaml's ladder (`supervisor`, "
        "`unit`, or `unit:<department code>` for one unit) -> the webhook of its group robot "
        "(政务微信/企业微信); recipients without one see the step on the workbench only. "
        "`duty` is the operators on duty (值班): they get each 舆情预警 surge.",
    )
    clock_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often due clocks are looked for."
    )
    outbox_retention_days: float = Field(
        default=7.0, gt=0, description="How long sent outbox rows are kept before pruning."
    )
    batch_size: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Routing decisions (and ticket events) applied together in one store "
        "transaction; a batch's offsets are committed once it is applied.",
    )
    survey_secret: str = Field(default=DEV_SURVEY_SECRET, min_length=16)
    session_secret: str = Field(
        default=DEV_SESSION_SECRET,
        min_length=16,
        description="Signs the workbench pages' session cookies and CSRF tokens.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Where citizens reach the survey and status pages (for links in messages).",
    )
    status_link_key: str = Field(
        default=DEV_STATUS_LINK_KEY,
        min_length=16,
        description="Key of the secret in citizens' status links (same as intake's): with it "
        "the whole ticket shows, without it only the state and the handling unit.",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_FOLLOWUP_STATUS_LINK_KEY",
            "FEEDBACKLOOP_STATUS_LINK_KEY",
            "status_link_key",
        ),
    )
    repeat_window_hours: float = Field(
        default=168,
        ge=0,
        description="重复来电: a new item of the same caller, close to the text of one of their "
        "open tickets received this many hours before, is linked to it (0: never).",
    )
    repeat_similarity: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="How close the texts must be (Jaccard similarity of character bigrams).",
    )
    status_lookups_per_minute: int = Field(
        default=20, ge=1, description="Status lookups (API and page) one address may make a minute."
    )
    board_views_per_minute: int = Field(
        default=120,
        ge=1,
        description="公开栏: board pages and feeds one address may fetch a minute (browsing and "
        "filtering take several).",
    )
    caller_lookups_per_minute: int = Field(
        default=20,
        ge=1,
        description="Caller verifications (ticket number + last four digits) one agent may try "
        "a minute.",
    )

    wechat_app_id: str | None = Field(default=None, description="Official account AppID.")
    wechat_app_secret: str | None = Field(default=None, description="Official account secret.")
    wechat_template_id: str | None = Field(
        default=None, description="Template message for citizens outside the 48 h window."
    )
    sms_gateway_url: str | None = Field(default=None, description="HTTP SMS gateway endpoint.")
    sms_api_key: str | None = Field(default=None, description="Bearer key for the SMS gateway.")
    contact_key: str = Field(
        default=DEV_CONTACT_KEY,
        description="Fernet key that opens the phone numbers intake sealed (same as intake's).",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_FOLLOWUP_CONTACT_KEY", "FEEDBACKLOOP_CONTACT_KEY", "contact_key"
        ),
    )

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            used = [
                name
                for name, dev in (
                    (
                        "FEEDBACKLOOP_FOLLOWUP_SURVEY_SECRET",
                        self.survey_secret == DEV_SURVEY_SECRET,
                    ),
                    ("FEEDBACKLOOP_CONTACT_KEY", self.contact_key == DEV_CONTACT_KEY),
                    (
                        "FEEDBACKLOOP_FOLLOWUP_SESSION_SECRET",
                        self.session_secret == DEV_SESSION_SECRET,
                    ),
                    (
                        "FEEDBACKLOOP_STATUS_LINK_KEY",
                        self.status_link_key == DEV_STATUS_LINK_KEY,
                    ),
                )
                if dev
            ]
            if used:
                raise ValueError(f"development secrets are not allowed in production: {used}")
        return self


@functools.cache
def get_settings() -> Settings:
    """Followup's settings, read from the environment once per process."""
    return Settings()
