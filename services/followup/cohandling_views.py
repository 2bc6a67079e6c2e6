"""主办/协办 on the workbench API: the centre names and withdraws co-units; a co-unit signs
for its part (签收) and sends it to the lead (see `cohandling`).

A co-unit sees a ticket it co-handles as the lead does, but may only sign and send its part;
every other action stays the lead's. Anyone else gets 404, as for a ticket that does not exist.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.orm import Session

from services.followup import clocks, cohandling
from services.followup.auth import Principal, Role
from services.followup.deps import FollowupDep, PrincipalDep, require
from services.followup.models import CoHandler, Ticket
from services.followup.schemas import (
    CoHandlersIn,
    ReasonIn,
    TextIn,
    TicketDetail,
    TicketOut,
    ticket_detail,
    ticket_out,
)
from services.followup.states import IllegalTransition
from services.followup.views import NOT_FOUND, TICKET, WORKBENCH, act_on, utc_now

router = APIRouter()
UNIT_CODE = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.get(
    f"{WORKBENCH}/cohandling", response_model=list[TicketOut], summary="协办工单 — my co-handling"
)
def list_queue(followup: FollowupDep, principal: PrincipalDep) -> list[TicketOut]:
    """Open tickets the caller's unit co-handles and has not sent its part for."""
    require(principal, Role.DEPARTMENT)
    assert principal.department_code is not None
    with followup.sessions() as session:
        tickets = cohandling.list_queue(session=session, department_code=principal.department_code)
        running = clocks.list_resolution_clocks(session=session, ticket_ids=[t.id for t in tickets])
        now = utc_now()
        return [ticket_out(t, now, running.get(t.id)) for t in tickets]


@router.get(f"{WORKBENCH}/cohandling/units", summary="可协办单位 — units that can co-handle")
def list_units(followup: FollowupDep, principal: PrincipalDep) -> dict[str, str]:
    """Units with a workbench account, code -> name: the centre picks co-units from these."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        return cohandling.list_directory(session=session)


@contextmanager
def _as_co_unit(
    followup: FollowupDep, principal: Principal, ticket_no: str
) -> Iterator[tuple[Session, Ticket, CoHandler]]:
    require(principal, Role.DEPARTMENT)
    assert principal.department_code is not None
    try:
        with followup.sessions.begin() as session:
            ticket = cohandling.get_ticket_for_unit(
                session=session,
                ticket_no=ticket_no.strip(),
                department_code=principal.department_code,
                lock=True,
            )
            if ticket is None:
                raise HTTPException(404, NOT_FOUND.format(ticket_no))
            unit = cohandling.get_unit(
                session=session, ticket_id=ticket.id, department_code=principal.department_code
            )
            if unit is None:
                raise HTTPException(404, NOT_FOUND.format(ticket_no))
            yield session, ticket, unit
    except (IllegalTransition, cohandling.CoHandlingError) as exc:
        raise HTTPException(getattr(exc, "status", 409), str(exc)) from exc
    followup.wake_relay()


@router.post(f"{TICKET}/cohandling/accept", response_model=TicketDetail, summary="协办签收")
def accept(ticket_no: str, followup: FollowupDep, principal: PrincipalDep) -> TicketDetail:
    """The co-unit signs for its part (签收); its response limit is met."""
    with _as_co_unit(followup, principal, ticket_no) as (session, ticket, unit):
        cohandling.accept(
            session=session, ticket=ticket, unit=unit, actor=principal.actor, now=utc_now()
        )
        session.flush()
        return ticket_detail(session, ticket)


@router.post(f"{TICKET}/cohandling/part", response_model=TicketDetail, summary="提交协办意见")
def submit(
    ticket_no: str, body: TextIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """The co-unit sends the lead its part (协办意见); the lead resolves once all are in."""
    with _as_co_unit(followup, principal, ticket_no) as (session, ticket, unit):
        cohandling.submit(
            session=session,
            ticket=ticket,
            unit=unit,
            actor=principal.actor,
            part=body.text,
            now=utc_now(),
        )
        session.flush()
        return ticket_detail(session, ticket)


@router.post(f"{TICKET}/cohandlers", response_model=TicketDetail, summary="增加协办单位")
def assign(
    ticket_no: str, body: CoHandlersIn, followup: FollowupDep, principal: PrincipalDep
) -> TicketDetail:
    """The centre names co-units of a ticket its lead unit works on."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)

    def name_units(session: Session, ticket: Ticket) -> None:
        directory = cohandling.list_directory(session=session)
        unknown = [code for code in body.department_codes if code not in directory]
        if unknown:
            raise HTTPException(422, f"没有这个承办单位：{'、'.join(unknown)}")
        cohandling.assign(
            session=session,
            book=followup.desk.book,
            calendar=followup.desk.calendar,
            ticket=ticket,
            units=[(code, directory[code]) for code in dict.fromkeys(body.department_codes)],
            actor=principal.actor,
            now=utc_now(),
        )

    return act_on(followup, principal, ticket_no, name_units)


@router.post(
    f"{TICKET}/cohandlers/{{department_code}}/withdraw",
    response_model=TicketDetail,
    summary="撤回协办单位",
)
def withdraw(
    ticket_no: str,
    department_code: UNIT_CODE,
    body: ReasonIn,
    followup: FollowupDep,
    principal: PrincipalDep,
) -> TicketDetail:
    """The centre takes a co-unit off the ticket (named by mistake); its limits stop."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)

    def take_off(session: Session, ticket: Ticket) -> None:
        unit = cohandling.get_unit(
            session=session, ticket_id=ticket.id, department_code=department_code
        )
        if unit is None:
            raise HTTPException(404, f"工单 {ticket_no} 没有这个协办单位")
        cohandling.withdraw(
            session=session,
            ticket=ticket,
            unit=unit,
            actor=principal.actor,
            reason=body.reason,
            now=utc_now(),
        )

    return act_on(followup, principal, ticket_no, take_off)
