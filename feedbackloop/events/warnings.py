"""Early warnings beside the hotspots: surges (舆情预警) of a category, district or place."""

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from feedbackloop.events.envelope import Payload


class SurgeDimension(StrEnum):
    """What a surge is counted by."""

    CATEGORY = "category"
    DISTRICT = "district"
    PLACE = "place"


class SurgeDetected(Payload):
    """A key's last hour far above its own baseline: an early warning for the operators."""

    EVENT_TYPE: ClassVar[str] = "feedbackloop.feedback.surge.v1"

    dimension: SurgeDimension = Field(description="Whether `key` is a category, district or place.")
    key: str = Field(
        max_length=100, description="The first-level category, the district or the place."
    )
    count: int = Field(ge=0, description="Items of the key in the hour up to `last_at`.")
    expected: float = Field(
        ge=0,
        description="Items the key's baseline expects in that hour: the mean of the same hour "
        "of the week in the last weeks (or the key's rate so far, or the prior).",
    )
    heated_share: float = Field(
        ge=0, le=1, description="Share of those items that read angry or urgent (情绪激烈或紧急)."
    )
    ticket_nos: list[str] = Field(
        max_length=2000, description="Ticket numbers of the items in that hour, oldest first."
    )
    first_at: datetime = Field(description="When the hour's first item arrived (UTC).")
    last_at: datetime = Field(description="When the item that revealed the surge arrived (UTC).")
    trend: list[int] = Field(
        max_length=24, description="Items per clock hour for the 24 hours up to `last_at`."
    )
    baseline: list[float] = Field(
        max_length=24, description="The baseline's items for each of those hours."
    )
