"""The centre's 并单 (merge) and 拆分 (split) of tickets, and their undoing (see `merges`).

Operators and supervisors only: a unit never merges or splits, it returns a ticket that is
not its own (退单). A merge is undone by `centre_views.unlink`, as a repeat's link is.
"""

from typing import Any

from fastapi import APIRouter, HTTPException

from services.followup import merges, service
from services.followup.auth import Role
from services.followup.deps import FollowupDep, PrincipalDep, require
from services.followup.schemas import MergeIn, ReasonIn, SplitIn, TicketDetail
from services.followup.views import TICKET, WORKBENCH, act_on, utc_now

router = APIRouter()


@router.get(f"{WORKBENCH}/merge-suggestions", summary="并单建议")
def list_suggestions(followup: FollowupDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Open tickets the router found nearly the same as an earlier open one, newest first."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        return [
            {
                "ticket_no": s.ticket.ticket_no,
                "title": s.ticket.title,
                "text": s.ticket.text,
                "state": s.ticket.state,
                "received_at": s.ticket.received_at,
                "master_no": s.master.ticket_no,
                "master_title": s.master.title,
                "master_text": s.master.text,
                "master_department_name": s.master.department_name,
            }
            for s in merges.list_suggestions(session=session)
        ]


@router.post(f"{TICKET}/merge", response_model=TicketDetail, summary="并单")
def merge(
    ticket_no: str, body: MergeIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """The ticket follows the master from now: the master's reply and survey reach its citizen."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)

    def merge_into(session: Any, ticket: Any) -> None:
        master = service.get_ticket_for(
            session=session, ticket_no=body.master_no, department_code=None, lock=True
        )
        if master is None:
            raise HTTPException(404, f"没有找到主工单 {body.master_no}")
        merges.merge(
            session=session,
            ticket=ticket,
            master=master,
            actor=principal.actor,
            reason=body.reason,
            now=utc_now(),
        )

    return act_on(followup, principal, ticket_no, merge_into)


@router.post(f"{TICKET}/split", response_model=TicketDetail, summary="拆分")
def split(
    ticket_no: str, body: SplitIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """Each part becomes a new ticket the router routes on its own; this one closes."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    parts = [merges.Part(text=part.text, title=part.title) for part in body.parts]
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: merges.split(
            session=s,
            ticket=t,
            parts=parts,
            actor=principal.actor,
            reason=body.reason,
            now=utc_now(),
        ),
    )


@router.post(f"{TICKET}/unsplit", response_model=TicketDetail, summary="撤销拆分")
def unsplit(
    ticket_no: str, body: ReasonIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """While no child is resolved: the children close, this ticket goes to the dispatch desk."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: merges.unsplit(
            session=s, ticket=t, actor=principal.actor, reason=body.reason, now=utc_now()
        ),
    )
