"""The department workbench API (承办单位工作台) and the public ticket API.

The centre's decisions on a department's requests are in `centre_views`.

A department sees and changes only its own tickets: anyone else's answer 404, exactly like a
ticket that does not exist, so that existence does not leak.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy.orm import Session

from services.followup import clocks, cohandling, flows, lookups, pauses, returns, service, surveys
from services.followup.auth import Principal, Role
from services.followup.deps import FollowupDep, PrincipalDep, require
from services.followup.models import Ticket
from services.followup.schemas import (
    CallerLookupIn,
    ExtensionIn,
    ReasonIn,
    ResolveIn,
    ReturnIn,
    TextIn,
    TicketDetail,
    TicketOut,
    ticket_detail,
    ticket_out,
)
from services.followup.states import IllegalTransition

router = APIRouter()
WORKBENCH = "/api/v1/workbench"
TICKET = f"{WORKBENCH}/tickets/{{ticket_no}}"
NOT_FOUND = "没有找到工单 {}，请核对工单号"


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def locked_ticket(
    followup: Any, principal: Principal, ticket_no: str
) -> Iterator[tuple[Session, Ticket]]:
    """A transaction with the caller's ticket locked; 404 if it is not theirs; 409 on conflict."""
    try:
        with followup.sessions.begin() as session:
            ticket = service.get_ticket_for(
                session=session,
                ticket_no=ticket_no.strip(),
                department_code=principal.scope,
                lock=True,
            )
            if ticket is None:
                raise HTTPException(404, NOT_FOUND.format(ticket_no))
            yield session, ticket
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from exc
    except (ValueError, LookupError, surveys.SurveyLinkError) as exc:
        raise HTTPException(getattr(exc, "status", 409), str(exc)) from exc
    followup.wake_relay()


def act_on(
    followup: Any, principal: Principal, ticket_no: str, action: Callable[[Session, Ticket], Any]
) -> TicketDetail:
    with locked_ticket(followup, principal, ticket_no) as (session, ticket):
        action(session, ticket)
        session.flush()
        return ticket_detail(session, ticket)


@router.get(f"{WORKBENCH}/me", summary="当前账号 — who am I")
def me(principal: PrincipalDep) -> dict[str, str | None]:
    """The caller's name, role and department."""
    return {
        "name": principal.name,
        "role": principal.role.value,
        "department_code": principal.department_code,
    }


@router.get(f"{WORKBENCH}/tickets", response_model=list[TicketOut], summary="我的工单 — my queue")
def list_queue(
    followup: FollowupDep,
    principal: PrincipalDep,
    state: Annotated[list[str] | None, Query(max_length=10)] = None,
    overdue: bool = False,
    due_within_hours: Annotated[float | None, Query(gt=0, le=24 * 90)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[TicketOut]:
    """Open tickets of the caller's department (operators: all), nearest deadline first."""
    due_within = timedelta(hours=due_within_hours) if due_within_hours else None
    with followup.sessions() as session:
        tickets = service.list_queue(
            session=session,
            department_code=principal.scope,
            states=state,
            overdue=overdue,
            due_within=due_within,
            now=utc_now(),
            limit=limit,
            offset=offset,
        )
        now = utc_now()
        running = clocks.list_resolution_clocks(session=session, ticket_ids=[t.id for t in tickets])
        return [ticket_out(t, now, running.get(t.id)) for t in tickets]


@router.get(TICKET, response_model=TicketDetail, summary="工单详情")
def get_ticket(ticket_no: str, followup: FollowupDep, principal: PrincipalDep) -> TicketDetail:
    """A ticket with the citizen's (masked) words and its timeline."""
    with followup.sessions() as session:
        ticket = service.get_ticket_for(
            session=session, ticket_no=ticket_no.strip(), department_code=principal.scope
        )
        if ticket is None and principal.scope is not None:
            ticket = cohandling.get_ticket_for_unit(
                session=session, ticket_no=ticket_no.strip(), department_code=principal.scope
            )
        if ticket is None:
            raise HTTPException(404, NOT_FOUND.format(ticket_no))
        return ticket_detail(session, ticket)


def _department_work(principal: Principal) -> None:
    require(principal, Role.DEPARTMENT, Role.OPERATOR, Role.SUPERVISOR)


@router.post(f"{TICKET}/accept", response_model=TicketDetail, summary="签收")
def accept(ticket_no: str, followup: FollowupDep, principal: PrincipalDep) -> TicketDetail:
    """Take the ticket on (签收); stops the first-response clock."""
    _department_work(principal)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.accept(session=s, ticket=t, actor=principal.actor, now=utc_now()),
    )


@router.post(f"{TICKET}/notes", response_model=TicketDetail, summary="备注")
def add_note(
    ticket_no: str, body: TextIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """An internal note; the citizen does not see it."""
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.note(
            session=s, ticket=t, actor=principal.actor, text=body.text, now=utc_now()
        ),
    )


@router.post(f"{TICKET}/replies", response_model=TicketDetail, summary="答复")
def add_reply(
    ticket_no: str, body: TextIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """A message to the citizen on their channel while the work goes on."""
    _department_work(principal)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.reply(
            session=s, ticket=t, actor=principal.actor, text=body.text, now=utc_now()
        ),
    )


@router.post(f"{TICKET}/resolve", response_model=TicketDetail, summary="办结")
def resolve(
    ticket_no: str, body: ResolveIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """Done: the text is the reply the citizen gets; the callback survey is scheduled.

    `unreasonable: true` also marks the request 不合理诉求 for the centre to decide on.
    """
    _department_work(principal)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.resolve(
            session=s,
            desk=followup.desk,
            ticket=t,
            actor=principal.actor,
            text=body.text,
            now=utc_now(),
            unreasonable=body.unreasonable,
        ),
    )


@router.post(f"{TICKET}/return", response_model=TicketDetail, summary="申请退单")
def return_ticket(
    ticket_no: str, body: ReturnIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """Not ours: the request waits for the centre, which approves (the router sends the
    ticket to the next most likely unit) or refuses (the unit goes on)."""
    require(principal, Role.DEPARTMENT)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: returns.request(
            session=s,
            ticket=t,
            actor=principal.actor,
            code=body.reason_code,
            reason=body.reason,
            now=utc_now(),
        ),
    )


@router.post(f"{TICKET}/extension", response_model=TicketDetail, summary="申请延期")
def request_extension(
    ticket_no: str, body: ExtensionIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """Ask an operator for more working days."""
    require(principal, Role.DEPARTMENT)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.request_extension(
            session=s,
            ticket=t,
            actor=principal.actor,
            working_days=body.working_days,
            reason=body.reason,
            now=utc_now(),
        ),
    )


@router.post(
    f"{TICKET}/pause",
    response_model=TicketDetail,
    summary="暂停计时",
    responses={202: {"description": "A department's request, waiting for the centre's approval"}},
)
def pause(
    ticket_no: str,
    body: ReasonIn,
    followup: FollowupDep,
    principal: PrincipalDep,
    response: Response,
) -> TicketDetail:
    """Stop the clocks while waiting on the citizen.

    A department's pause is a request (202): the clocks run on until an operator approves
    it, as with an extension. An operator's or supervisor's pause takes effect at once.
    """
    _department_work(principal)
    centre = principal.role is not Role.DEPARTMENT
    pause_now = flows.pause if centre else pauses.request
    if not centre:
        response.status_code = 202
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: pause_now(
            session=s, ticket=t, actor=principal.actor, reason=body.reason, now=utc_now()
        ),
    )


@router.post(f"{TICKET}/resume", response_model=TicketDetail, summary="恢复计时")
def resume(ticket_no: str, followup: FollowupDep, principal: PrincipalDep) -> TicketDetail:
    """Start the clocks again."""
    _department_work(principal)
    return act_on(
        followup,
        principal,
        ticket_no,
        lambda s, t: flows.resume(
            session=s, desk=followup.desk, ticket=t, actor=principal.actor, now=utc_now()
        ),
    )


@router.post(
    f"{WORKBENCH}/lookups",
    response_model=TicketDetail,
    summary="核实来电人查询工单",
    responses={
        404: {"description": "No ticket with this number and these last four digits"},
        429: {"description": "Too many checks by this agent; see Retry-After"},
    },
)
def look_up_for_caller(
    body: CallerLookupIn, request: Request, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """A hotline agent opens a caller's ticket: its number plus the callback phone's last 4.

    Rate-limited per agent and audited (who, which ticket, whether the digits matched).
    """
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    lookups.check_caller_lookup(request, followup.settings, principal.actor)
    with followup.sessions.begin() as session:
        ticket = lookups.find_for_caller(
            session=session,
            settings=followup.settings,
            ticket_no=body.ticket_no,
            last4=body.phone_last4,
            actor=principal.actor,
            now=utc_now(),
        )
        found = ticket_detail(session, ticket) if ticket is not None else None
    if found is None:  # committed first: the audit keeps the misses too
        raise HTTPException(404, lookups.NO_MATCH)
    return found


@router.get("/healthz", summary="Liveness and the Kafka side")
def healthz(request: Request) -> dict[str, object]:
    """Whether followup runs, and its consumers' state (the same fields as every consumer's)."""
    streams = getattr(request.app.state, "streams", None)
    if streams is None:  # the API alone (no Kafka side), as tests and tools build it
        return {"status": "ok"}
    opening, *others = streams
    health: dict[str, object] = opening.health()
    for other in others:
        theirs = other.health()
        health[other.name] = theirs
        if theirs["status"] != "ok" and health["status"] == "ok":
            health["status"] = theirs["status"]
    return health
