"""不合理诉求 (unreasonable requests): a unit's mark and the centre's decision on it.

A unit that finds a request unreasonable (a demand no rule supports, a repeated malicious
call) says so when it resolves the ticket (`flows.resolve(unreasonable=True)`); the ticket is
then `claimed`. Only the centre decides: `accepted` takes the ticket's surveys out of the
unit's 解决率 and 满意率 (the metrics fold reads the decision from the event) and an unhappy
answer then closes the ticket instead of reopening it; `refused` leaves everything as it was.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import Envelope, TicketEvent, TicketEventKind
from services.followup import service
from services.followup.models import Ticket

CLAIMED, ACCEPTED, REFUSED = "claimed", "accepted", "refused"
NOT_CLAIMED = "这张工单没有待审核的不合理诉求认定申请"


def review(
    *, session: Session, ticket: Ticket, actor: str, accept: bool, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """The centre's decision on a pending mark; ValueError (409) if there is none."""
    if ticket.unreasonable != CLAIMED:
        raise ValueError(NOT_CLAIMED)
    ticket.unreasonable = ACCEPTED if accept else REFUSED
    verdict = "认定为不合理诉求，不计入承办单位解决率、满意率" if accept else "不予认定不合理诉求"
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.UNREASONABLE_REVIEWED,
        state_from=ticket.state,
        actor=actor,
        reason=f"{verdict}：{reason}",
        now=now,
        unreasonable=ticket.unreasonable,
    )


def list_pending(*, session: Session, limit: int) -> list[Ticket]:
    """Tickets whose mark waits for the centre, oldest resolution first."""
    stmt = (
        select(Ticket)
        .where(Ticket.unreasonable == CLAIMED)
        .order_by(Ticket.resolved_at, Ticket.ticket_no)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())
