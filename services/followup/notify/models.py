"""The notifier's tables: one delivery record per event, and callback tasks for agents."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from feedbackloop.runtime.sql import UTCDateTime
from services.followup.models import Base


class CallbackOutcome(StrEnum):
    """How a callback call ended."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"
    WRONG_NUMBER = "wrong_number"


class NotificationRecord(Base):
    """The outcome of notifying a citizen about one event; the event id makes it idempotent."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_no: Mapped[str] = mapped_column(String(20), index=True)
    #: The route taken: "wechat", "sms" or "callback".
    channel: Mapped[str] = mapped_column(String(16))
    #: "sent", "failed" or "queued" (a callback task waits for an agent).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CallbackTask(Base):
    """A hotline caller to be called back by an agent, with the words to tell them."""

    __tablename__ = "callback_tasks"
    # Agents list the open tasks oldest first; done ones pile up and must not slow that down.
    __table_args__ = (Index("ix_callback_tasks_open", "done_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_no: Mapped[str] = mapped_column(String(20), index=True)
    phone_masked: Mapped[str] = mapped_column(String(32))
    #: The number encrypted with the contact key; agents' tools decrypt it to dial.
    phone_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    purpose: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    done_by: Mapped[str | None] = mapped_column(String(80), default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
