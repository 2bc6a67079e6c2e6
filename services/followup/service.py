"""Ticket store operations: read tickets and queues, record events with their outbox rows."""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    Priority,
    Publication,
    TicketEvent,
    TicketEventKind,
    TicketState,
    encode,
    new_event,
)
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.models import (
    AuditEntry,
    ExtensionRequest,
    OutboxMessage,
    ProcessedEvent,
    Ticket,
)

SOURCE = "/followup"
OPEN_STATES = ("triage", "routed", "accepted", "returned", "reopened")


def get_ticket(*, session: Session, ticket_no: str) -> Ticket | None:
    """A ticket by the number the citizen knows."""
    if "\x00" in ticket_no:  # never in a ticket number; PostgreSQL refuses it in a query
        return None
    return session.execute(select(Ticket).where(Ticket.ticket_no == ticket_no)).scalar_one_or_none()


def get_ticket_for(
    *, session: Session, ticket_no: str, department_code: str | None, lock: bool = False
) -> Ticket | None:
    """A ticket by number, only if `department_code` (None: any department) handles it."""
    if "\x00" in ticket_no:
        return None
    stmt = select(Ticket).where(Ticket.ticket_no == ticket_no)
    if department_code is not None:
        stmt = stmt.where(Ticket.department_code == department_code)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def create_ticket(*, session: Session, item: FeedbackReceived, caller_key: str | None) -> Ticket:
    """A new ticket of an item as intake took it; the caller fills in where it is routed.

    Its clocks run from receipt (`due_at` until the resolution limit sets it): the citizen
    waits from the moment they spoke.
    """
    contact, location = item.contact, item.location
    ticket = Ticket(
        id=item.ticket_id,
        ticket_no=item.ticket_no,
        channel=item.channel.value,
        title=item.title,
        text=item.text,
        address=location.address if location else None,
        district=location.district if location else None,
        latitude=location.lat if location else None,
        longitude=location.lng if location else None,
        attachments=json.dumps(
            [a.model_dump(exclude_none=True) for a in item.attachments], ensure_ascii=False
        )
        if item.attachments
        else None,
        received_at=item.received_at,
        due_at=item.received_at,
        policy="general",
        complex=False,
        reopen_count=0,
        wechat_openid=contact.wechat_openid if contact else None,
        phone_masked=contact.phone_masked if contact else None,
        phone_sealed=contact.phone_sealed if contact else None,
        callback_consent=bool(contact and contact.callback_consent),
        publication_consent=bool(contact and contact.publication_consent),
        caller_key=caller_key,
        split_from=item.split_from,
    )
    session.add(ticket)
    return ticket


def get_timeline(*, session: Session, ticket_id: str) -> list[AuditEntry]:
    """A ticket's audit trail, oldest first."""
    stmt = select(AuditEntry).where(AuditEntry.ticket_id == ticket_id).order_by(AuditEntry.id)
    return list(session.execute(stmt).scalars())


def list_queue(
    *,
    session: Session,
    department_code: str | None,
    states: list[str] | None,
    overdue: bool,
    due_within: timedelta | None,
    now: datetime,
    limit: int,
    offset: int = 0,
) -> list[Ticket]:
    """A department's (or everyone's) open tickets, the nearest deadline first."""
    stmt: Select[Any] = select(Ticket).where(Ticket.state.in_(states or OPEN_STATES))
    if department_code is not None:
        stmt = stmt.where(Ticket.department_code == department_code)
    if overdue:
        stmt = stmt.where(Ticket.due_at <= now)
    if due_within is not None:
        stmt = stmt.where(and_(Ticket.due_at > now, Ticket.due_at <= now + due_within))
    stmt = stmt.order_by(Ticket.due_at, Ticket.ticket_no).limit(limit).offset(offset)
    return list(session.execute(stmt).scalars())


def count_processed(*, session: Session, event_id: str) -> int:
    """1 if an input event was applied already, else 0."""
    stmt = (
        select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.event_id == event_id)
    )
    return int(session.execute(stmt).scalar_one())


def create_processed(*, session: Session, event_id: str, now: datetime) -> None:
    """Remember that an input event was applied (same transaction as its effect)."""
    session.add(ProcessedEvent(event_id=event_id, processed_at=now))


def create_event(
    *,
    session: Session,
    ticket: Ticket,
    kind: TicketEventKind,
    state_from: str | None,
    actor: str,
    reason: str | None,
    now: datetime,
    event_id: str | None = None,
    clock: str | None = None,
    solved: str | None = None,
    satisfaction: str | None = None,
    contacted: bool | None = None,
    unreasonable: str | None = None,
    return_code: str | None = None,
    step: str | None = None,
    co_department_code: str | None = None,
    co_department_name: str | None = None,
    article_id: int | None = None,
    publication: Publication | None = None,
) -> Envelope[TicketEvent]:
    """Record what happened to a ticket: an audit row and a ticket.events outbox row.

    Both are written in the caller's transaction, with the change itself, so the event is
    published if and only if the change is committed.
    """
    change = TicketEvent(
        ticket_id=ticket.id,
        ticket_no=ticket.ticket_no,
        kind=kind,
        state_from=TicketState(state_from) if state_from else None,
        state_to=TicketState(ticket.state),
        department_code=ticket.department_code,
        department_name=ticket.department_name,
        priority=Priority(ticket.priority),
        actor=actor,
        reason=reason[:2000] if reason else None,
        due_at=ticket.due_at,
        received_at=ticket.received_at,
        occurred_at=now,
        channel=ticket.channel,
        category=ticket.category,
        clock=clock,
        solved=solved,
        satisfaction=satisfaction,
        contacted=contacted,
        unreasonable=unreasonable,
        return_code=return_code,
        step=step,
        co_department_code=co_department_code,
        co_department_name=co_department_name,
        article_id=article_id,
        publication=publication,
    )
    event = new_event(data=change, source=SOURCE, subject=ticket.id, event_id=event_id, time=now)
    session.flush()  # a new ticket must exist before rows refer to it
    session.add(
        AuditEntry(
            ticket_id=ticket.id,
            event_id=event.id,
            kind=kind.value,
            state_from=state_from,
            state_to=ticket.state,
            actor=actor,
            reason=change.reason,
            occurred_at=now,
        )
    )
    session.add(
        OutboxMessage(
            event_id=event.id,
            topic=TICKET_EVENTS,
            key=ticket.id,
            payload=encode(event),
            created_at=now,
        )
    )
    return event


def count_events(*, session: Session, event_id: str) -> int:
    """1 if an event with this id was recorded already, else 0."""
    stmt = select(func.count()).select_from(AuditEntry).where(AuditEntry.event_id == event_id)
    return int(session.execute(stmt).scalar_one())


def create_extension_request(
    *, session: Session, ticket: Ticket, working_days: int, reason: str, actor: str, now: datetime
) -> ExtensionRequest:
    """File a department's request for more time."""
    request = ExtensionRequest(
        ticket_id=ticket.id,
        working_days=working_days,
        reason=reason,
        requested_by=actor,
        requested_at=now,
    )
    session.add(request)
    session.flush()
    return request


def get_pending_extension(*, session: Session, ticket_id: str) -> ExtensionRequest | None:
    """A ticket's undecided extension request, if any."""
    stmt = select(ExtensionRequest).where(
        ExtensionRequest.ticket_id == ticket_id, ExtensionRequest.decided_at.is_(None)
    )
    return session.execute(stmt).scalars().first()


def list_pending_extensions(*, session: Session, limit: int) -> list[ExtensionRequest]:
    """Extension requests waiting for an operator, oldest first."""
    stmt = (
        select(ExtensionRequest)
        .where(ExtensionRequest.decided_at.is_(None))
        .order_by(ExtensionRequest.requested_at)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())
