"""Intake's own tables: submissions, the transactional outbox, ticket counters, credentials."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from feedbackloop.runtime.outbox import OutboxColumns
from feedbackloop.runtime.sql import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of intake's store."""


class Submission(Base):
    """One accepted item; the raw contact stays here, only a masked one travels downstream."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("channel", "channel_ref", name="uq_submission_channel_ref"),)

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    channel_ref: Mapped[str | None] = mapped_column(String(128))
    contact_phone_encrypted: Mapped[str | None] = mapped_column(String(255))
    wechat_openid: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DirectAnswerRecord(Base):
    """直接答复: what a consultation was answered with at intake, for repeating the answer.

    WeChat's retries must get the byte-identical reply whatever the knowledge base says by
    then, and a citizen who replies “人工” has their question filed for a department: both
    read it here. The question is kept masked, as it travels downstream.
    """

    __tablename__ = "direct_answers"

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    wechat_openid: Mapped[str | None] = mapped_column(String(64), index=True)
    question: Mapped[str] = mapped_column(Text)
    article_title: Mapped[str] = mapped_column(String(100))
    answer: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The ticket the citizen's “人工” filed it as, once they asked.
    filed_as: Mapped[str | None] = mapped_column(String(20), default=None)


class OutboxMessage(OutboxColumns, Base):
    """An event committed with its submission, waiting for the relay to publish it."""


class TicketCounter(Base):
    """Last ticket sequence number handed out per day and intake node."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    node: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class TicketStatus(Base):
    """Read model of each ticket's latest state, fed from `ticket.events` (for status queries)."""

    __tablename__ = "ticket_status"

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    department_code: Mapped[str | None] = mapped_column(String(48))
    department_name: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(String(64))


class Open311Request(Base):
    """A ticket as Open311 lists it, fed from `ticket.events` with the status read model.

    Only tickets Open311 may show get a row: those posted through Open311 and those the
    citizen let the centre publish (公开). `publication` is the masked public record as JSON,
    set by `published` and cleared by `unpublished`; without it nothing the citizen wrote or
    where they were is shown.
    """

    __tablename__ = "open311_requests"
    __table_args__ = (Index("ix_open311_requests_requested", "requested_at"),)

    ticket_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    service_code: Mapped[str | None] = mapped_column(String(16))
    #: First-level category, named when no service code is known (other channels' tickets).
    category: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    publication: Mapped[str | None] = mapped_column(Text, default=None)
    #: When the last published/unpublished happened, so a late one cannot undo a newer one.
    publication_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Open311Update(Base):
    """A change of a listed request, for the `servicerequestupdates` extension."""

    __tablename__ = "open311_updates"
    __table_args__ = (Index("ix_open311_updates_occurred", "occurred_at"),)

    #: The ticket event's id: a re-applied event adds nothing.
    update_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(36), index=True)
    ticket_no: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Credential(Base):
    """A system allowed to submit on citizens' behalf: a call centre's or an Open311 app's."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: hotline | open311
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))
    #: scrypt(secret, salt); the secret itself is shown once and never stored.
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WeChatNonce(Base):
    """A (timestamp, nonce) WeChat signed, bound to the body it first came with.

    Plaintext-mode signatures cover only the token, timestamp and nonce: without this record a
    captured query could carry any other body. Rows older than the freshness window can never
    match again (their timestamp is refused) and are pruned.
    """

    __tablename__ = "wechat_nonces"

    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
