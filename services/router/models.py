"""The router's own tables: the triage queue and the corrections it learns from."""

from datetime import datetime

from sqlalchemy import Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from feedbackloop.runtime.sql import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of the router's store."""


class TriageItem(Base):
    """An item the model was unsure about, waiting for an operator (人工分派)."""

    __tablename__ = "triage_items"

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    received_event: Mapped[bytes] = mapped_column(LargeBinary)
    candidates: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(48), default=None)
    assigned_by: Mapped[str | None] = mapped_column(String(80), default=None)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Correction(Base):
    """A category a person chose for a text: training data for the next model."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(36), index=True)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoutingRecord(Base):
    """What the router decided for a ticket, kept so a return (退单) can be re-routed."""

    __tablename__ = "routing_records"

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    received_event: Mapped[bytes] = mapped_column(LargeBinary)
    ranking: Mapped[str] = mapped_column(Text)
    tried: Mapped[str] = mapped_column(Text)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """Where a ticket's FeedbackReceived was first read (partition and offset).

    intake's relay publishes at least once, so the same item can sit on the topic twice; the
    copy at another offset is dropped. The same offset read again is a redelivery after a
    crash before its batch was committed, so it is routed again (with the same event ids).
    """

    __tablename__ = "deliveries"

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(Integer)


class HotspotRecord(Base):
    """A burst of items about one place that the detector reported (for the operators' page)."""

    __tablename__ = "hotspots"

    #: The HotspotDetected event's id: a re-processed batch records it once.
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    place: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    #: JSON list of the burst's ticket numbers, oldest first.
    ticket_nos: Mapped[str] = mapped_column(Text)
    window_hours: Mapped[float] = mapped_column(Float)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
