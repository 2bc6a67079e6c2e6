"""公开审核: the centre withholds (暂不公开) and restores items of the public board.

Operators and supervisors only, by the workbench API (Bearer) or the workbench pages
(session and CSRF): each decision is an event on the ticket's timeline with who made it and
why, and takes the item off the board (`unpublished`) or puts it back (`published`).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from feedbackloop.web.forms import ticket_number
from services.followup.auth import Principal, Role
from services.followup.deps import FollowupDep, PrincipalDep, require
from services.followup.publication import service as publication
from services.followup.schemas import ReasonIn, TicketDetail
from services.followup.views import TICKET, act_on, utc_now
from services.followup.web.common import VisitDep

router = APIRouter()
PAGE = "/workbench/publication"
DONE = {
    "withheld": "工单 {} 已设为暂不公开，已从公开栏撤下",
    "restored": "工单 {} 已恢复公开（办结且市民同意时在公开栏展示）",
}


def withhold(ticket_no: str, body: ReasonIn, followup: Any, principal: Principal) -> TicketDetail:
    """暂不公开 a ticket: off the board until restored, whatever the citizen chose."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: publication.withhold(
            session=s, ticket=t, actor=principal.actor, reason=body.reason, now=utc_now()
        ),
    )


def restore(ticket_no: str, followup: Any, principal: Principal) -> TicketDetail:
    """Lift a withholding."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: publication.restore(session=s, ticket=t, actor=principal.actor, now=utc_now()),
    )


@router.post(f"{TICKET}/publication/withhold", response_model=TicketDetail, summary="暂不公开")
def withhold_api(
    ticket_no: str, body: ReasonIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """Take a ticket off the public board (or keep it off), with a reason (audited)."""
    return withhold(ticket_no[:20], body, followup, principal)


@router.post(f"{TICKET}/publication/restore", response_model=TicketDetail, summary="恢复公开")
def restore_api(ticket_no: str, followup: FollowupDep, principal: PrincipalDep) -> TicketDetail:
    """Undo 暂不公开 (audited); the ticket is public again if answered and agreed."""
    return restore(ticket_no[:20], followup, principal)


@router.get(PAGE, include_in_schema=False)
def moderation_page(visit: VisitDep, done: str = "", ticket: str = "") -> Response:
    """The newest items on the board, each with 暂不公开, and the withheld ones to restore."""
    visit.require(Role.OPERATOR, Role.SUPERVISOR)
    number = ticket_number(ticket)
    with visit.desk.sessions() as session:
        shown, withheld = publication.list_moderation(session=session, limit=100)
    return visit.render(
        "workbench/publication.html",
        flash=DONE[done].format(number) if done in DONE and number else None,
        shown=shown,
        withheld=withheld,
    )


def _back(visit: VisitDep, ticket_no: str, done: str, came_from: str) -> Response:
    number = ticket_number(ticket_no)
    if came_from == "list":
        return visit.redirect(f"{PAGE}?done={done}&ticket={number}")
    return visit.redirect(f"/workbench/tickets/{number}")


@router.post("/workbench/tickets/{ticket_no}/publication/withhold", include_in_schema=False)
def withhold_page(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    came_from: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """暂不公开 from the ticket page or the moderation list."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    body = visit.form_body(
        lambda: ReasonIn(reason=reason[:2000]),
        title="请填写理由",
        message="请填写 2 到 500 字的暂不公开理由后重试。",
    )
    visit.attempt(
        lambda: withhold(ticket_no[:20], body, visit.desk, principal), failed="无法设为暂不公开"
    )
    return _back(visit, ticket_no, "withheld", came_from)


@router.post("/workbench/tickets/{ticket_no}/publication/restore", include_in_schema=False)
def restore_page(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    came_from: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """恢复公开 from the ticket page or the moderation list."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    visit.attempt(lambda: restore(ticket_no[:20], visit.desk, principal), failed="无法恢复公开")
    return _back(visit, ticket_no, "restored", came_from)
