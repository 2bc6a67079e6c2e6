"""What the 12345 centre decides on a department's ticket: extensions, pauses, unreasonable
requests (不合理诉求), returns (退单), phone callback answers and the supervisor's closing.

The department asks on its workbench (`views`); an operator or supervisor of the centre
decides here. Every decision is a ticket event, so the unit, the citizen's status page and the
scoring all see it.
"""

from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy.orm import Session

from services.followup import flows, pauses, repeats, returns, service, surveys, unreasonable
from services.followup.auth import Role
from services.followup.deps import FollowupDep, PrincipalDep, require
from services.followup.models import Ticket
from services.followup.schemas import (
    DecisionIn,
    ReasonIn,
    ReturnReviewIn,
    SurveyAnswerIn,
    TicketDetail,
    UnreasonableReviewIn,
)
from services.followup.views import TICKET, WORKBENCH, act_on, utc_now

router = APIRouter()


@router.post(
    f"{TICKET}/extension/decision",
    response_model=TicketDetail,
    summary="审批延期",
)
def decide_extension(
    ticket_no: str, body: DecisionIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """An operator approves or rejects a pending extension request."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.decide_extension(
            session=s,
            desk=followup.desk,
            ticket=t,
            actor=principal.actor,
            approve=body.approve,
            now=utc_now(),
        ),
    )


@router.get(f"{WORKBENCH}/extensions", summary="待审批的延期申请")
def list_extensions(followup: FollowupDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Extension requests waiting for a decision, oldest first."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        pending = service.list_pending_extensions(session=session, limit=200)
        out = []
        for request in pending:
            ticket = session.get(Ticket, request.ticket_id)
            assert ticket is not None
            out.append(
                {
                    "ticket_no": ticket.ticket_no,
                    "department_name": ticket.department_name,
                    "working_days": request.working_days,
                    "reason": request.reason,
                    "requested_by": request.requested_by,
                    "requested_at": request.requested_at,
                    "due_at": ticket.due_at,
                }
            )
        return out


@router.post(f"{TICKET}/pause/decision", response_model=TicketDetail, summary="审批暂停计时")
def decide_pause(
    ticket_no: str, body: DecisionIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """An operator approves (the clocks stop now) or rejects a department's pause request."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: pauses.decide(
            session=s, ticket=t, actor=principal.actor, approve=body.approve, now=utc_now()
        ),
    )


@router.get(f"{WORKBENCH}/pauses", summary="待审批的暂停计时申请")
def list_pauses(followup: FollowupDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Pause requests waiting for a decision, oldest first."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        return [
            {
                "ticket_no": ticket.ticket_no,
                "department_name": ticket.department_name,
                "reason": request.reason,
                "requested_by": request.requested_by,
                "requested_at": request.requested_at,
                "due_at": ticket.due_at,
            }
            for request, ticket in pauses.list_pending(session=session, limit=200)
        ]


@router.post(f"{TICKET}/survey", response_model=TicketDetail, summary="录入回访结果")
def record_survey(
    ticket_no: str, body: SurveyAnswerIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """A hotline agent records what the citizen said on the callback (回访)."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)

    def answer(session: Session, ticket: Ticket) -> None:
        if not surveys.by_phone(ticket):
            # The citizen answers through their own link; an answer recorded here would
            # take their say away (their link would then answer 409).
            raise HTTPException(409, surveys.NOT_BY_PHONE)
        survey = surveys.get_open_survey(session=session, ticket=ticket)
        if survey is None:
            raise LookupError("这张工单目前没有待回访的评价")
        surveys.answer(
            session=session,
            book=followup.desk.book,
            survey=survey,
            ticket=ticket,
            solved=body.solved,
            satisfaction=body.satisfaction,
            comment=body.comment,
            contacted=body.contacted,
            actor=principal.actor,
            now=utc_now(),
        )

    return act_on(followup, principal, ticket_no, answer)


@router.post(f"{TICKET}/close", response_model=TicketDetail, summary="督办结案")
def close(
    ticket_no: str, body: ReasonIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """A supervisor closes a ticket escalated after repeated dissatisfaction."""
    require(principal, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: surveys.close_by_supervisor(
            session=s, ticket=t, actor=principal.actor, reason=body.reason, now=utc_now()
        ),
    )


@router.post(
    f"{TICKET}/unreasonable/decision", response_model=TicketDetail, summary="审核不合理诉求"
)
def review_unreasonable(
    ticket_no: str, body: UnreasonableReviewIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """The centre decides on a unit's 不合理诉求 mark: accepted, the ticket leaves its rates."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: unreasonable.review(
            session=s,
            ticket=t,
            actor=principal.actor,
            accept=body.accept,
            reason=body.reason,
            now=utc_now(),
        ),
    )


@router.get(f"{WORKBENCH}/unreasonable", summary="待审核的不合理诉求")
def list_unreasonable(followup: FollowupDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Tickets a unit marked unreasonable, waiting for the centre, oldest first."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        return [
            {
                "ticket_no": ticket.ticket_no,
                "department_name": ticket.department_name,
                "title": ticket.title,
                "reason": ticket.unreasonable_reason,
                "resolved_at": ticket.resolved_at,
            }
            for ticket in unreasonable.list_pending(session=session, limit=200)
        ]


@router.post(f"{TICKET}/return/decision", response_model=TicketDetail, summary="审核退单")
def review_return(
    ticket_no: str, body: ReturnReviewIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """The centre approves a unit's return (the router re-routes the ticket, never to that
    unit) or refuses it (the unit goes on, with the centre's reason on its ticket)."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: returns.review(
            session=s,
            ticket=t,
            actor=principal.actor,
            approve=body.approve,
            reason=body.reason,
            now=utc_now(),
        ),
    )


@router.get(f"{WORKBENCH}/returns", summary="待审核的退单申请")
def list_returns(followup: FollowupDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Returns waiting for the centre, oldest first."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        return [
            {
                "ticket_no": ticket.ticket_no,
                "department_code": ticket.department_code,
                "department_name": ticket.department_name,
                "title": ticket.title,
                "reason_code": ticket.return_code,
                "reason_label": returns.REASONS.get(ticket.return_code or "", ""),
                "reason": ticket.return_reason,
                "requested_at": ticket.return_requested_at,
                "due_at": ticket.due_at,
            }
            for ticket in returns.list_pending(session=session, limit=200)
        ]


@router.post(f"{TICKET}/unlink", response_model=TicketDetail, summary="取消重复件关联")
def unlink(
    ticket_no: str, body: ReasonIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """A repeat (重复来电) linked by mistake runs on its own at the unit the router chose."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: repeats.unlink(
            session=s,
            book=followup.desk.book,
            calendar=followup.desk.calendar,
            ticket=t,
            actor=principal.actor,
            reason=body.reason,
            now=utc_now(),
        ),
    )
