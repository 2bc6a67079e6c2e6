"""The public board's table: one row per ticket on the board, already masked.

The board reads only this table, never the tickets: what it can show is exactly what was
masked and published (the `published` event's record), so no query can reach a citizen's
own words, address or phone number.
"""

from datetime import datetime

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from feedbackloop.runtime.sql import UTCDateTime
from services.followup.models import Base


class PublicItem(Base):
    """A ticket as the public board shows it (公开栏)."""

    __tablename__ = "public_items"
    __table_args__ = (Index("ix_public_items_resolved", "resolved_at"),)

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str | None] = mapped_column(String(100), default=None)
    text: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    district: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    department_code: Mapped[str] = mapped_column(String(48), index=True)
    department_name: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lng: Mapped[float | None] = mapped_column(Float, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The callback survey's answers, once given (solved | partly | not; satisfied | ...).
    solved: Mapped[str | None] = mapped_column(String(8), default=None)
    satisfaction: Mapped[str | None] = mapped_column(String(16), default=None)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
