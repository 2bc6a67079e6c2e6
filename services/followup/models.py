"""Followup's tables: tickets, their audit trail and clocks, surveys, credentials, the outbox.

The schema is created and changed by Alembic migrations (`services/followup/migrations`).
"""

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from feedbackloop.runtime.outbox import OutboxColumns
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
    district: Mapped[str | None] = mapped_column(String(50), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    #: Photos, voice notes and files the citizen sent: a JSON list of {kind, url, media_id}.
    attachments: Mapped[str | None] = mapped_column(Text, default=None)
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(50))
    department_code: Mapped[str] = mapped_column(String(48), index=True)
    department_name: Mapped[str] = mapped_column(String(100))
    routing_method: Mapped[str] = mapped_column(String(16))
    routing_confidence: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    routed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Resolution deadline (办结时限), kept equal to the resolution clock's.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    policy: Mapped[str] = mapped_column(String(32), default="general")
    complex: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    #: 不合理诉求: None, or claimed (by the unit, waiting for the centre), accepted, refused.
    unreasonable: Mapped[str | None] = mapped_column(String(16), default=None)
    unreasonable_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: A unit's 退单 waiting for the centre's review: its reason code (None: nothing pending),
    #: words, who asked and when.
    return_code: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    return_reason: Mapped[str | None] = mapped_column(Text, default=None)
    return_requested_by: Mapped[str | None] = mapped_column(String(120), default=None)
    return_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # How to reach the citizen: masked for people, sealed (encrypted) for the notifier.
    wechat_openid: Mapped[str | None] = mapped_column(String(64), default=None)
    phone_masked: Mapped[str | None] = mapped_column(String(32), default=None)
    phone_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    callback_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Who called, as a keyed hash of the openid or phone number (see `repeats`).
    caller_key: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    #: The ticket this one repeats (重复来电), while linked to it.
    repeat_of: Mapped[str | None] = mapped_column(String(36), default=None)
    #: 并单 suggestion: the number of an earlier ticket the router found nearly the same.
    duplicate_of: Mapped[str | None] = mapped_column(String(20), default=None)
    #: 拆分: the number of the ticket this one was split from.
    split_from: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    #: 拆分: how many children this ticket was split into, while it stays split.
    split_parts: Mapped[int | None] = mapped_column(Integer, default=None)
    #: 直接答复: the knowledge-base article the consultation was answered with at intake (the
    #: ticket was closed at once); None for every ticket a department handled.
    direct_article_id: Mapped[int | None] = mapped_column(Integer, default=None)
    #: 公开: the citizen agreed to publication (from intake's contact; they may withdraw it).
    publication_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: 暂不公开: the centre keeps it off the public board (who, why, since when); None: not.
    withheld_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    withheld_by: Mapped[str | None] = mapped_column(String(80), default=None)
    withheld_reason: Mapped[str | None] = mapped_column(Text, default=None)


class AuditEntry(Base):
    """One transition or fact of a ticket: who, when, what, why."""

    __tablename__ = "ticket_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    state_from: Mapped[str | None] = mapped_column(String(16))
    state_to: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Clock(Base):
    """A running time limit or timer of a ticket; each of its moments fires once."""

    __tablename__ = "clocks"
    __table_args__ = (Index("ix_clocks_running", "stopped_at", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    #: response | resolution (limits), survey_invite | survey_expiry (timers)
    kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The earliest moment still to fire (warning or due); null once nothing is left.
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: For a co-handling unit's limits (co_response, co_part): whose they are.
    cohandler_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_cohandlers.id"), default=None
    )


class ExtensionRequest(Base):
    """A department's request for more time (延期), and the operator's decision."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    working_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved: Mapped[bool | None] = mapped_column(Boolean, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(80), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PauseRequest(Base):
    """A department's request to stop the clocks (暂停计时), and the centre's decision.

    The clocks run on until an operator approves: a department cannot stop its own deadline.
    """

    __tablename__ = "pause_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved: Mapped[bool | None] = mapped_column(Boolean, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(80), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class LookupAudit(Base):
    """A hotline agent's look-up of a ticket for a caller: who, which ticket, whether it matched.

    The digits the caller gave are not kept: the row says only whether they matched.
    """

    __tablename__ = "lookup_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    matched: Mapped[bool] = mapped_column(Boolean)
    looked_up_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Survey(Base):
    """One callback survey (回访) round of a ticket."""

    __tablename__ = "surveys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: solved | partly | not
    solved: Mapped[str | None] = mapped_column(String(8), default=None)
    #: satisfied (满意) | basically (基本满意) | dissatisfied (不满意) | no_response
    satisfaction: Mapped[str | None] = mapped_column(String(16), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    #: Whether the unit contacted the citizen (是否联系); None where it was not asked.
    contacted: Mapped[bool | None] = mapped_column(Boolean, default=None)
    answered_by: Mapped[str | None] = mapped_column(String(80), default=None)


class Credential(Base):
    """Who may use the workbench API: a department, an operator or a supervisor."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    #: department | operator | supervisor
    role: Mapped[str] = mapped_column(String(16))
    department_code: Mapped[str | None] = mapped_column(String(48), default=None)
    #: scrypt(secret, salt); the secret itself is shown once and never stored.
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class OutboxMessage(OutboxColumns, Base):
    """An event committed with the change it describes, waiting for the relay to publish it."""


class ProcessedEvent(Base):
    """An input event already applied; recorded in the same transaction as its effect."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CoHandler(Base):
    """A co-handling unit (协办单位) of a ticket, next to its lead unit (主办, the department)."""

    __tablename__ = "ticket_cohandlers"
    __table_args__ = (Index("ix_cohandlers_unit", "department_code", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_code: Mapped[str] = mapped_column(String(48))
    department_name: Mapped[str] = mapped_column(String(100))
    #: assigned | accepted (签收) | submitted (its part is in) | withdrawn (by the centre)
    state: Mapped[str] = mapped_column(String(16))
    assigned_by: Mapped[str] = mapped_column(String(80))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: The unit's part (协办意见) for the lead: what it found and did.
    part: Mapped[str | None] = mapped_column(Text, default=None)


class EarlyWarning(Base):
    """A 舆情预警 surge or a hotspot the signals worker reported, for the centre's page."""

    __tablename__ = "early_warnings"

    #: The alert event's id: a redelivered alert is stored once.
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: surge | hotspot
    kind: Mapped[str] = mapped_column(String(8))
    #: category | district | place (a hotspot is a place's, within its category)
    dimension: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(50), default=None)
    count: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float | None] = mapped_column(Float, default=None)
    heated_share: Mapped[float | None] = mapped_column(Float, default=None)
    #: JSON: the ticket numbers behind it; for a surge, the 24 hours' counts and baseline.
    ticket_nos: Mapped[str] = mapped_column(Text)
    trend: Mapped[str | None] = mapped_column(Text, default=None)
    baseline: Mapped[str | None] = mapped_column(Text, default=None)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
