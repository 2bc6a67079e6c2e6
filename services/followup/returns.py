"""退单 (returns) under the centre's review.

A unit that finds a ticket is not its matter asks to return it, with a reason code from the
taxonomy below and its words; the ticket stays with the unit, clocks running, until the
centre decides (首接负责: the first unit to receive stays responsible until then). Approved,
the ticket is `returned` and the router sends it to the next most likely unit, never one it
was returned by; after two returns it goes to the dispatch desk (the router's rule). Refused,
it stays with the unit, which reads the centre's reason on its ticket page.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import Envelope, TicketEvent, TicketEventKind, TicketState
from services.followup import clocks, service
from services.followup.models import Ticket
from services.followup.states import Action, check

#: The taxonomy of returns: code -> label. The codes travel on the events (`return_code`)
#: and the metrics count returns by them; the labels are what clerks and operators read.
REASONS: dict[str, str] = {
    "not_our_duty": "不属于本单位职责",
    "not_our_area": "不属于本单位辖区",
    "other_lead": "应由其他单位主办",
    "handled_elsewhere": "已由其他渠道或单位办理",
    "unclear": "诉求不清，无法确定承办单位",
    "other": "其他原因",
}

PENDING = "这张工单已有待中心审核的退单申请，请等待审核结果"
NOT_PENDING = "这张工单没有待审核的退单申请"


def request(
    *, session: Session, ticket: Ticket, actor: str, code: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """A unit asks to return the ticket; ValueError (409) if a request already waits."""
    check(Action.RETURN, TicketState(ticket.state))
    if ticket.return_code is not None:
        raise ValueError(PENDING)
    if code not in REASONS:
        raise ValueError(f"没有退单原因“{code}”")
    ticket.return_code, ticket.return_reason = code, reason
    ticket.return_requested_by, ticket.return_requested_at = actor, now
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.RETURN_REQUESTED,
        state_from=ticket.state,
        actor=actor,
        reason=f"申请退单（{REASONS[code]}）：{reason}",
        now=now,
        return_code=code,
    )


def review(
    *, session: Session, ticket: Ticket, actor: str, approve: bool, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """The centre's decision on a pending request; ValueError (409) if there is none.

    Approved, the `returned` event carries the unit's code and words (the router re-routes
    on it, excluding the unit that returned it) and the centre's reason after them.
    """
    code = ticket.return_code
    if code is None:
        raise ValueError(NOT_PENDING)
    if approve:  # a ticket resolved meanwhile cannot leave; the centre refuses instead
        check(Action.RETURN, TicketState(ticket.state))
    words = ticket.return_reason or ""
    ticket.return_code = ticket.return_reason = None
    ticket.return_requested_by = ticket.return_requested_at = None
    if not approve:
        return service.create_event(
            session=session,
            ticket=ticket,
            kind=TicketEventKind.RETURN_REFUSED,
            state_from=ticket.state,
            actor=actor,
            reason=f"退单申请未通过，请继续办理：{reason}",
            now=now,
            return_code=code,
        )
    state_from = ticket.state
    ticket.state = TicketState.RETURNED.value
    event = service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.RETURNED,
        state_from=state_from,
        actor=actor,
        reason=f"{REASONS.get(code, code)}：{words}（中心审核同意：{reason}）",
        now=now,
        return_code=code,
    )
    clocks.update_stopped(session=session, ticket=ticket, kinds=("response",), now=now)
    return event


def list_pending(*, session: Session, limit: int) -> list[Ticket]:
    """Tickets whose return waits for the centre, oldest request first."""
    stmt = (
        select(Ticket)
        .where(Ticket.return_code.is_not(None))
        .order_by(Ticket.return_requested_at, Ticket.ticket_no)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())
