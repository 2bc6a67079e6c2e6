"""Ticket store operations: open tickets from routing decisions, read them back."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Envelope,
    FeedbackRouted,
    TicketEvent,
    TicketEventKind,
    TicketState,
    deterministic_event_id,
    new_event,
)
from services.followup.models import AuditEntry, ProcessedEvent, Ticket
from services.followup.sla import resolution_deadline

SOURCE = "/followup"


@dataclass(frozen=True)
class Opened:
    """The ticket event to publish for a routing decision, and whether the store changed."""

    event: Envelope[TicketEvent]
    created: bool


def get_ticket(*, session: Session, ticket_no: str) -> Ticket | None:
    """A ticket by the number the citizen knows."""
    return session.execute(select(Ticket).where(Ticket.ticket_no == ticket_no)).scalar_one_or_none()


def get_timeline(*, session: Session, ticket_id: str) -> list[AuditEntry]:
    """A ticket's audit trail, oldest first."""
    stmt = select(AuditEntry).where(AuditEntry.ticket_id == ticket_id).order_by(AuditEntry.id)
    return list(session.execute(stmt).scalars())


def create_ticket(*, session: Session, routed: Envelope[FeedbackRouted]) -> Opened:
    """Open a ticket for a routing decision, once per event id; the caller commits."""
    decision = routed.data
    item = decision.feedback
    due_at = resolution_deadline(priority=decision.priority, received_at=item.received_at)
    opened = TicketEvent(
        ticket_id=item.ticket_id,
        ticket_no=item.ticket_no,
        kind=TicketEventKind.OPENED,
        state_from=None,
        state_to=TicketState.ROUTED,
        department_code=decision.department_code,
        department_name=decision.department_name,
        priority=decision.priority,
        actor="system",
        reason=f"派单至{decision.department_name}（{decision.method.value}）",
        due_at=due_at,
        received_at=item.received_at,
        occurred_at=decision.routed_at,
    )
    event = new_event(
        data=opened,
        source=SOURCE,
        subject=item.ticket_id,
        event_id=deterministic_event_id(routed.id, "opened"),
    )
    if session.get(ProcessedEvent, routed.id) is not None:
        return Opened(event=event, created=False)
    session.add(ProcessedEvent(event_id=routed.id, processed_at=datetime.now(UTC)))
    session.add(
        Ticket(
            id=item.ticket_id,
            ticket_no=item.ticket_no,
            channel=item.channel.value,
            title=item.title,
            text=item.text,
            address=item.location.address if item.location else None,
            state=TicketState.ROUTED.value,
            priority=decision.priority.value,
            category=decision.category,
            department_code=decision.department_code,
            department_name=decision.department_name,
            routing_method=decision.method.value,
            routing_confidence=decision.confidence,
            received_at=item.received_at,
            routed_at=decision.routed_at,
            due_at=due_at,
        )
    )
    session.flush()  # the audit row references the ticket
    session.add(
        AuditEntry(
            ticket_id=item.ticket_id,
            event_id=event.id,
            kind=opened.kind.value,
            state_from=None,
            state_to=opened.state_to.value,
            actor=opened.actor,
            reason=opened.reason,
            occurred_at=opened.occurred_at,
        )
    )
    return Opened(event=event, created=True)
