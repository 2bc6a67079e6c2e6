"""Intake settings, read once from the environment (prefix FEEDBACKLOOP_INTAKE_)."""

import base64
import binascii
import functools
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from feedbackloop.settings import ServiceSettings, sqlite_in_state_dir
from feedbackloop.web.status_links import DEV_STATUS_LINK_KEY, status_url

# Development-only secrets: usable on a laptop, refused when FEEDBACKLOOP_ENV=production.
DEV_CONTACT_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk="
DEV_WECHAT_TOKEN = "feedbackloop-dev-token"
# Open311 keys are credentials (`feedbackloop intake add-credential --kind open311`); this one
# is honoured only in development, so civic-app examples work on a laptop.
DEV_OPEN311_KEY = "dev-open311-key"
DEV_SESSION_SECRET = "dev-intake-session-secret-not-for-production"

# The checkout; the shared data sits next to it (../shared/data) and is never copied in.
_REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(ServiceSettings):
    """Everything intake can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_INTAKE_", extra="ignore")

    database_url: str = Field(
        default_factory=sqlite_in_state_dir("intake.db"),
        description="The store [SQLite intake.db in the state dir].",
    )
    port: int = 8001
    node: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Digit that keeps ticket numbers of replicas apart (9 is followup's, for split "
        "children).",
    )
    max_body_bytes: int = Field(default=64 * 1024, description="Larger requests get 413.")
    max_batch_bytes: int = Field(
        default=32 * 1024 * 1024, description="Cap of the hotline JSONL batch endpoint."
    )
    hotline_max_batch_lines: int = Field(
        default=10_000, ge=1, le=10_000, description="Lines one hotline batch may have (413)."
    )
    hotline_max_line_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Longest line of a hotline batch (422)."
    )
    hotline_calls_per_minute: int = Field(
        default=6000,
        ge=1,
        description="Calls one call-centre credential may post per minute (429): a big city's "
        "12345 centre peaks at a few hundred a minute, a backlog replay at a few thousand.",
    )
    hotline_batch_workers: int = Field(
        default=4, ge=1, le=32, description="Hotline batches stored at once; more wait their turn."
    )
    open311_requests_per_minute: int = Field(
        default=600, ge=1, description="Requests one Open311 api_key may post per minute (429)."
    )
    open311_reads_per_minute: int = Field(
        default=120,
        ge=1,
        description="Open311 list and update queries one client address may make per minute.",
    )
    group_commit_max_items: int = Field(
        default=256, ge=1, le=10_000, description="Most items committed in one transaction."
    )
    group_commit_max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="How long a group that already has company waits for more items; 0 "
        "commits at once what arrived while the previous group was committing.",
    )
    relay_enabled: bool = Field(
        default=True,
        description="Run the outbox relay here; off for API-only replicas sharing one store.",
    )
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_idle_seconds: float = Field(
        default=1.0, gt=0, description="How often the relay looks for rows it was not told of."
    )
    outbox_retention_days: float = Field(
        default=7.0, gt=0, description="How long sent outbox rows are kept before pruning."
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
    status_url_template: str = Field(
        default="http://127.0.0.1:8003/t/{ticket_no}",
        description="Where a citizen checks a ticket; {ticket_no} is filled in, and the link's "
        "secret goes in {secret} or, without it, is appended as ?k=.",
    )
    status_link_key: str = Field(
        default=DEV_STATUS_LINK_KEY,
        min_length=16,
        description="Key of the secret in status links; followup needs the same key.",
        validation_alias=AliasChoices(
            "FEEDBACKLOOP_INTAKE_STATUS_LINK_KEY",
            "FEEDBACKLOOP_STATUS_LINK_KEY",
            "status_link_key",
        ),
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

    session_secret: str = Field(
        default=DEV_SESSION_SECRET,
        min_length=16,
        description="Signs the agent page's session cookies and CSRF tokens; in production the "
        "page stays closed (503) until one is set, other channels run without it.",
    )
    agent_items_per_minute: int = Field(
        default=30, ge=1, description="Items one agent's sign-in may file per minute (429)."
    )
    knowledge_url: str | None = Field(
        default="http://127.0.0.1:8003",
        description="followup's base URL, for knowledge-base searches (直接答复); None: none.",
    )
    knowledge_token: str | None = Field(
        default=None,
        description="followup operator credential intake searches the knowledge base with "
        "(`feedbackloop followup add-credential --role operator`); without one, no direct answers.",
    )
    knowledge_timeout_seconds: float = Field(
        default=1.5,
        gt=0,
        le=4,
        description="How long one knowledge-base call may take; WeChat answers within 5 s, so "
        "a slow followup means filing the item as usual.",
    )
    wechat_direct_min_score: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Similarity (the knowledge base's TF-IDF cosine, 0-1) an article needs for "
        "WeChat to answer a consultation with it; below it the item is filed for a department. "
        "A citizen's question close to an article's title scores 0.25-0.45; unrelated text "
        "finds no article at all. Raise it when citizens often reply “人工”.",
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

    @property
    def agent_pages_open(self) -> bool:
        """Whether the agent page may sign anyone in (not on the dev secret in production)."""
        return self.environment != "production" or self.session_secret != DEV_SESSION_SECRET

    def status_url(self, ticket_no: str) -> str:
        """The private status link a citizen is given for a ticket."""
        return status_url(
            template=self.status_url_template, key=self.status_link_key, ticket_no=ticket_no
        )

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            defaults = {
                "contact_key": self.contact_key == DEV_CONTACT_KEY,
                "wechat_token": self.wechat_token == DEV_WECHAT_TOKEN,
                "status_link_key": self.status_link_key == DEV_STATUS_LINK_KEY,
            }
            used = [name for name, is_default in defaults.items() if is_default]
            if used:
                raise ValueError(f"development secrets are not allowed in production: {used}")
        return self


@functools.cache
def get_settings() -> Settings:
    """Intake's settings, read from the environment once per process."""
    return Settings()
