"""Ticket store operations: open tickets from routing decisions, read them back."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Envelope,
    FeedbackRouted,
    RoutingMethod,
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
class Applied:
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


METHOD_LABELS = {
    "rule": "规则",
    "model": "模型",
    "manual": "人工",
    "default": "默认",
    "triage": "待分派",
}


def apply_routing(*, session: Session, routed: Envelope[FeedbackRouted]) -> Applied:
    """Open a ticket for a routing decision, or re-route it; once per event id; caller commits.

    An item the router was unsure about opens in state `triage` at the dispatch desk; the
    operator's later assignment arrives as another decision for the same ticket.
    """
    decision = routed.data
    item = decision.feedback
    ticket = session.get(Ticket, item.ticket_id)
    triage = decision.method is RoutingMethod.TRIAGE
    state_to = TicketState.TRIAGE if triage else TicketState.ROUTED
    due_at = (
        ticket.due_at
        if ticket is not None
        else resolution_deadline(priority=decision.priority, received_at=item.received_at)
    )
    if triage:
        reason = f"模型把握不足（{decision.confidence:.0%}），转{decision.department_name}人工分派"
    else:
        reason = f"派单至{decision.department_name}（{METHOD_LABELS[decision.method.value]}）"
    change = TicketEvent(
        ticket_id=item.ticket_id,
        ticket_no=item.ticket_no,
        kind=TicketEventKind.OPENED if ticket is None else TicketEventKind.REROUTED,
        state_from=None if ticket is None else TicketState(ticket.state),
        state_to=state_to,
        department_code=decision.department_code,
        department_name=decision.department_name,
        priority=decision.priority,
        actor=f"operator:{decision.assigned_by}" if decision.assigned_by else "system",
        reason=reason,
        due_at=due_at,
        received_at=item.received_at,
        occurred_at=decision.routed_at,
    )
    event = new_event(
        data=change,
        source=SOURCE,
        subject=item.ticket_id,
        event_id=deterministic_event_id(routed.id, "applied"),
    )
    if session.get(ProcessedEvent, routed.id) is not None:
        return Applied(event=event, created=False)
    session.add(ProcessedEvent(event_id=routed.id, processed_at=datetime.now(UTC)))
    if ticket is None:
        ticket = Ticket(
            id=item.ticket_id,
            ticket_no=item.ticket_no,
            channel=item.channel.value,
            title=item.title,
            text=item.text,
            address=item.location.address if item.location else None,
            received_at=item.received_at,
            due_at=due_at,
        )
        session.add(ticket)
    ticket.state = state_to.value
    ticket.priority = decision.priority.value
    ticket.category = decision.category
    ticket.department_code = decision.department_code
    ticket.department_name = decision.department_name
    ticket.routing_method = decision.method.value
    ticket.routing_confidence = decision.confidence
    ticket.routed_at = decision.routed_at
    session.flush()  # the audit row references the ticket
    session.add(
        AuditEntry(
            ticket_id=item.ticket_id,
            event_id=event.id,
            kind=change.kind.value,
            state_from=change.state_from.value if change.state_from else None,
            state_to=change.state_to.value,
            actor=change.actor,
            reason=change.reason,
            occurred_at=change.occurred_at,
        )
    )
    return Applied(event=event, created=True)
