"""Followup's tables: tickets, their audit trail, and the events already applied."""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from feedbackloop.runtime.sql import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of followup's store."""


class Ticket(Base):
    """A citizen's item from routing until it is closed."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(50))
    department_code: Mapped[str] = mapped_column(String(48), index=True)
    department_name: Mapped[str] = mapped_column(String(100))
    routing_method: Mapped[str] = mapped_column(String(16))
    routing_confidence: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    routed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEntry(Base):
    """One transition of a ticket: who, when, what, why."""

    __tablename__ = "ticket_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state_from: Mapped[str | None] = mapped_column(String(16))
    state_to: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedEvent(Base):
    """An input event already applied; recorded in the same transaction as its effect."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)
