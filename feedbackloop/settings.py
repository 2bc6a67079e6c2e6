"""The settings every service and the CLI share: one base, one place for the stores.

Each service's `Settings` (services/<name>/config.py) extends `ServiceSettings` with the
prefix FEEDBACKLOOP_<NAME>_. The fields here are read from that prefix first and then from
the shared name, so one variable configures the whole loop and a service can still differ:

- FEEDBACKLOOP_KAFKA_BOOTSTRAP, FEEDBACKLOOP_TOPIC_PARTITIONS, FEEDBACKLOOP_TRUSTED_PROXIES;
- FEEDBACKLOOP_STATE_DIR: where the SQLite stores (and the router's model) live unless a
  service's database URL is given, so `feedbackloop up`, the services it starts and the CLI
  commands that open a store (`feedbackloop intake|followup ...`) all find the same files;
- FEEDBACKLOOP_ENV: `production` refuses the development secrets.

A process reads its settings once (`get_settings()` of each config module, cached).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from feedbackloop.web.proxies import TrustedProxies

SHARED_PREFIX = "FEEDBACKLOOP_"
#: Fields a service also reads from FEEDBACKLOOP_<FIELD> when its own variable is unset.
SHARED_FIELDS = frozenset({"kafka_bootstrap", "topic_partitions", "state_dir", "trusted_proxies"})
DEFAULT_STATE_DIR = Path(".var")


class _SharedEnvironment(EnvSettingsSource):
    """FEEDBACKLOOP_<FIELD> for the shared fields only (FEEDBACKLOOP_PORT means nothing)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls, env_prefix=SHARED_PREFIX)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name not in SHARED_FIELDS:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class ServiceSettings(BaseSettings):
    """What every service is configured with; a service's Settings adds its own fields."""

    model_config = SettingsConfigDict(extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        validation_alias=AliasChoices("FEEDBACKLOOP_ENV", "environment"),
        description="`production` refuses the development secrets.",
    )
    state_dir: Path = Field(
        default=DEFAULT_STATE_DIR,
        description="Where the SQLite stores live unless a database URL is given "
        "[FEEDBACKLOOP_STATE_DIR].",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="The brokers [FEEDBACKLOOP_KAFKA_BOOTSTRAP]."
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of the topics a service creates [FEEDBACKLOOP_TOPIC_PARTITIONS].",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the HTTP server.")
    trusted_proxies: TrustedProxies = Field(
        default_factory=list,
        description="Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; "
        "empty: the peer's own address is the client's [FEEDBACKLOOP_TRUSTED_PROXIES].",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Cap of request bodies; larger ones get 413."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The service's own variables win over the shared ones.
        return (
            init_settings,
            env_settings,
            _SharedEnvironment(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )


def sqlite_in_state_dir(filename: str) -> Callable[[dict[str, Any]], str]:
    """A `default_factory` for a database URL: the SQLite file `filename` in `state_dir`."""

    def url(data: dict[str, Any]) -> str:
        return f"sqlite:///{Path(data.get('state_dir', DEFAULT_STATE_DIR)) / filename}"

    return url


def in_state_dir(*parts: str) -> Callable[[dict[str, Any]], Path]:
    """A `default_factory` for a path under `state_dir`."""

    def path(data: dict[str, Any]) -> Path:
        return Path(data.get("state_dir", DEFAULT_STATE_DIR)).joinpath(*parts)

    return path
