"""Pausing a ticket's clocks (暂停计时): a department asks, the 12345 centre decides.

A paused clock neither warns nor breaches, so a department pausing its own clock at will
could keep any ticket from ever being overdue. As with an extension, the department files
a request with its reason and the clocks run on; an operator approves (the clocks stop
from then, and the audit trail names both) or rejects it. The centre's own pause, an
operator's or supervisor's, takes effect at once.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import Envelope, TicketEvent, TicketEventKind, TicketState
from services.followup import clocks, flows, service
from services.followup.models import PauseRequest, Ticket
from services.followup.states import Action, check

K = TicketEventKind


def get_pending(*, session: Session, ticket_id: str) -> PauseRequest | None:
    """A ticket's undecided pause request, if any."""
    stmt = select(PauseRequest).where(
        PauseRequest.ticket_id == ticket_id, PauseRequest.decided_at.is_(None)
    )
    return session.execute(stmt).scalars().first()


def list_pending(*, session: Session, limit: int) -> list[tuple[PauseRequest, Ticket]]:
    """Pause requests waiting for an operator, oldest first, with their tickets."""
    stmt = (
        select(PauseRequest, Ticket)
        .join(Ticket, Ticket.id == PauseRequest.ticket_id)
        .where(PauseRequest.decided_at.is_(None))
        .order_by(PauseRequest.requested_at, PauseRequest.id)
        .limit(limit)
    )
    return [(request, ticket) for request, ticket in session.execute(stmt).all()]


def request(
    *, session: Session, ticket: Ticket, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """A department asks to stop the clocks; they keep running until an operator approves."""
    check(Action.PAUSE, TicketState(ticket.state))
    if get_pending(session=session, ticket_id=ticket.id) is not None:
        raise ValueError("这张工单已有待审批的暂停计时申请，请等待审批结果")
    if clocks.is_paused(session=session, ticket=ticket):
        raise ValueError("计时已经暂停")
    session.add(
        PauseRequest(ticket_id=ticket.id, reason=reason, requested_by=actor, requested_at=now)
    )
    # An internal note: the citizen hears of the pause only once it is approved.
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=K.NOTED,
        state_from=ticket.state,
        actor=actor,
        reason=f"申请暂停计时（待12345中心审批，计时继续）：{reason}",
        now=now,
    )


def decide(
    *, session: Session, ticket: Ticket, actor: str, approve: bool, now: datetime
) -> Envelope[TicketEvent]:
    """An operator approves (the clocks stop now) or rejects a pending pause request."""
    pending = get_pending(session=session, ticket_id=ticket.id)
    if pending is None:
        raise LookupError("这张工单没有待审批的暂停计时申请")
    pending.approved, pending.decided_by, pending.decided_at = approve, actor, now
    if not approve:
        return service.create_event(
            session=session,
            ticket=ticket,
            kind=K.NOTED,
            state_from=ticket.state,
            actor=actor,
            reason=f"暂停计时申请未获批准（{pending.requested_by}申请：{pending.reason}）",
            now=now,
        )
    return flows.pause(
        session=session,
        ticket=ticket,
        actor=actor,
        now=now,
        reason=f"同意暂停计时（{pending.requested_by}申请：{pending.reason}）",
    )
