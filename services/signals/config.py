"""Signals worker settings, read once from the environment (prefix FEEDBACKLOOP_SIGNALS_)."""

import functools
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from feedbackloop.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the signals worker can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_SIGNALS_", extra="ignore")

    app_id: str = Field(
        default="feedbackloop-signals",
        description="faust app id: the consumer group, and the prefix of its own topics "
        "(`<id>-sightings`, `<id>-bursts-changelog`).",
    )
    hotspot_items: int = Field(default=5, ge=2, description="Items about one place for a hotspot.")
    hotspot_window_hours: float = Field(default=24, gt=0, description="Hotspot window, hours.")
    processing_guarantee: Literal["exactly_once", "at_least_once"] = Field(
        default="at_least_once",
        description="faust 0.15's exactly_once keeps one transactional producer per source "
        "partition a worker owns; a repartitioned send to a partition another worker owns "
        "fails (ProducerSendError), so with two workers it cannot count. At least once, a "
        "replay is harmless: an item is counted once per ticket, an alert keeps its event id.",
    )
    port: int = 8005


@functools.cache
def get_settings() -> Settings:
    """The worker's settings, read from the environment once per process."""
    return Settings()
