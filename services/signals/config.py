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
    surge_weeks: int = Field(
        default=4, ge=1, le=8, description="Weeks of the same hour a surge is compared with."
    )
    surge_ratio: float = Field(
        default=1.5, gt=1, description="A surge's hour is at least this many times the baseline."
    )
    surge_p_value: float = Field(
        default=1e-6, gt=0, lt=0.01, description="A surge's hour is this improbable (Poisson)."
    )
    surge_min_category: int = Field(default=30, ge=2, description="Fewest items: a category.")
    surge_min_district: int = Field(default=15, ge=2, description="Fewest items: a district.")
    surge_min_place: int = Field(default=6, ge=2, description="Fewest items: a place.")
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
