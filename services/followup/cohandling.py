"""主办/协办 (co-handling): one lead unit and co-handling units on one ticket.

Some items touch several units at once: a building site's night noise is housing's and the
environment bureau's. The centre then names a lead unit (主办单位: the ticket's department,
which answers the citizen) and co-handling units (协办单位), at triage (the router's
assignment carries them) or later on the console. Each co-unit signs for its part (签收)
within the ticket policy's first-response limit and sends the lead its part (协办意见) within
sla.yaml's `co_part`; the lead resolves once every part is in, with the parts before it.
Each unit's 三率 counts its own role (services/metrics/fold.py): a co-unit's 签收 in its
响应率, the ticket's callback survey in its 解决率 and 满意率, a late part as a deduction.

Every step is audited and published as a `cohandler_*` ticket event; the centre can withdraw
a co-unit it named by mistake.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Envelope,
    TicketEvent,
    TicketEventKind,
    TicketState,
    deterministic_event_id,
)
from services.followup import service
from services.followup.calendar import WorkingCalendar
from services.followup.models import Clock, CoHandler, Credential, Ticket
from services.followup.sla import SlaBook

K = TicketEventKind
ACTIVE = ("assigned", "accepted", "submitted")
#: The co-units' limits on the clocks table: 签收, and the part for the lead.
RESPONSE, PART = "co_response", "co_part"
CLOCKS = (RESPONSE, PART)
#: Co-units a ticket may have at once; more is a matter for the district, not a ticket.
MOST = 5
#: Where the centre may name co-units: while the lead works the ticket.
WORKING = (TicketState.ROUTED, TicketState.ACCEPTED, TicketState.REOPENED)


class CoHandlingError(ValueError):
    """A co-handling step that cannot be taken; the message is for clerks (Chinese)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def list_units(*, session: Session, ticket_id: str) -> list[CoHandler]:
    """A ticket's co-units that have not been withdrawn, in the order they were named."""
    stmt = (
        select(CoHandler)
        .where(CoHandler.ticket_id == ticket_id, CoHandler.state.in_(ACTIVE))
        .order_by(CoHandler.id)
    )
    return list(session.execute(stmt).scalars())


def get_unit(*, session: Session, ticket_id: str, department_code: str) -> CoHandler | None:
    """A unit's active co-handling of a ticket, if it has one."""
    units = list_units(session=session, ticket_id=ticket_id)
    return next((u for u in units if u.department_code == department_code), None)


def list_pending(*, session: Session, ticket_id: str) -> list[CoHandler]:
    """Co-units whose part the lead still waits for."""
    return [u for u in list_units(session=session, ticket_id=ticket_id) if u.state != "submitted"]


def list_queue(*, session: Session, department_code: str, limit: int = 200) -> list[Ticket]:
    """Open tickets a unit co-handles and has not sent its part for, the oldest first."""
    stmt = (
        select(Ticket)
        .join(CoHandler, CoHandler.ticket_id == Ticket.id)
        .where(
            CoHandler.department_code == department_code,
            CoHandler.state.in_(("assigned", "accepted")),
            Ticket.state.in_(service.OPEN_STATES),
        )
        .order_by(CoHandler.assigned_at, Ticket.ticket_no)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def list_directory(*, session: Session) -> dict[str, str]:
    """Units that can co-handle (they have a workbench account): code -> name.

    The name is the one the router last gave the unit on a ticket, else the account's.
    """
    stmt = select(Credential.department_code, Credential.name).where(
        Credential.role == "department",
        Credential.disabled_at.is_(None),
        Credential.department_code.is_not(None),
    )
    directory = {code: name for code, name in session.execute(stmt) if code}
    named = select(Ticket.department_code, Ticket.department_name).where(
        Ticket.department_code.in_(list(directory))
    )
    directory.update(dict(session.execute(named).all()))
    return dict(sorted(directory.items()))


def _event(
    session: Session,
    ticket: Ticket,
    unit: CoHandler,
    kind: TicketEventKind,
    actor: str,
    reason: str,
    now: datetime,
    *,
    event_id: str | None = None,
    clock: str | None = None,
) -> Envelope[TicketEvent]:
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=kind,
        state_from=ticket.state,
        actor=actor,
        reason=reason,
        now=now,
        event_id=event_id,
        clock=clock,
        co_department_code=unit.department_code,
        co_department_name=unit.department_name,
    )


def _start(
    session: Session, book: SlaBook, calendar: WorkingCalendar, ticket: Ticket, unit: CoHandler
) -> None:
    policy = next((p for p in book.policies if p.name == ticket.policy), book.policies[-1])
    for kind, limit in ((RESPONSE, policy.response), (PART, book.co_part)):
        clock = Clock(
            ticket_id=ticket.id,
            kind=kind,
            cohandler_id=unit.id,
            started_at=unit.assigned_at,
            due_at=book.due(calendar, limit, unit.assigned_at),
        )
        clock.next_at = clock.due_at
        session.add(clock)


def _stop(session: Session, unit: CoHandler, kinds: tuple[str, ...], now: datetime) -> None:
    stmt = select(Clock).where(
        Clock.cohandler_id == unit.id, Clock.kind.in_(kinds), Clock.stopped_at.is_(None)
    )
    for clock in session.execute(stmt).scalars():
        clock.stopped_at, clock.next_at = now, None


def assign(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    ticket: Ticket,
    units: Sequence[tuple[str, str]],
    actor: str,
    now: datetime,
    cause: str | None = None,
) -> list[Envelope[TicketEvent]]:
    """Name co-units (code, name) of a ticket; units already co-handling it are left alone.

    With `cause` (the routing decision's event id), the events' ids derive from it, so a
    redelivered decision names nobody twice.
    """
    if TicketState(ticket.state) not in WORKING:
        raise CoHandlingError("工单当前状态不能增加协办单位")
    current = {u.department_code for u in list_units(session=session, ticket_id=ticket.id)}
    events = []
    for code, name in units:
        if code == ticket.department_code:
            raise CoHandlingError(f"{name}已是主办单位，不能同时协办", 422)
        if code in current:
            continue
        if len(current) >= MOST:
            raise CoHandlingError(f"一件工单最多{MOST}个协办单位", 422)
        unit = CoHandler(
            ticket_id=ticket.id,
            department_code=code,
            department_name=name,
            state="assigned",
            assigned_by=actor,
            assigned_at=now,
        )
        session.add(unit)
        session.flush()
        _start(session, book, calendar, ticket, unit)
        current.add(code)
        event_id = deterministic_event_id(cause, f"co/{code}") if cause else None
        reason = f"主办{ticket.department_name}，协办{name}"
        events.append(
            _event(
                session, ticket, unit, K.COHANDLER_ASSIGNED, actor, reason, now, event_id=event_id
            )
        )
    return events


def accept(
    *, session: Session, ticket: Ticket, unit: CoHandler, actor: str, now: datetime
) -> Envelope[TicketEvent]:
    """签收 by a co-unit: its response limit is met."""
    if unit.state != "assigned":
        raise CoHandlingError("本单位已签收该协办工单")
    unit.state, unit.accepted_at = "accepted", now
    _stop(session, unit, (RESPONSE,), now)
    reason = f"{unit.department_name}已签收协办"
    return _event(session, ticket, unit, K.COHANDLER_ACCEPTED, actor, reason, now)


def submit(
    *, session: Session, ticket: Ticket, unit: CoHandler, actor: str, part: str, now: datetime
) -> list[Envelope[TicketEvent]]:
    """A co-unit's part (协办意见) for the lead; a unit that had not signed signs with it."""
    if unit.state == "submitted":
        raise CoHandlingError("本单位已提交协办意见")
    if ticket.state not in ("routed", "accepted", "reopened"):
        raise CoHandlingError("工单已办结，不再接收协办意见")
    events = []
    if unit.state == "assigned":
        events.append(accept(session=session, ticket=ticket, unit=unit, actor=actor, now=now))
    unit.state, unit.submitted_at, unit.part = "submitted", now, part
    _stop(session, unit, CLOCKS, now)
    events.append(_event(session, ticket, unit, K.COHANDLER_SUBMITTED, actor, part, now))
    return events


def withdraw(
    *, session: Session, ticket: Ticket, unit: CoHandler, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """The centre takes a co-unit off the ticket; its limits stop."""
    unit.state, unit.withdrawn_at = "withdrawn", now
    _stop(session, unit, CLOCKS, now)
    return _event(session, ticket, unit, K.COHANDLER_WITHDRAWN, actor, reason, now)


def update_lead(*, session: Session, ticket: Ticket, actor: str, now: datetime) -> None:
    """A re-routed ticket's new lead cannot co-handle it too: that co-unit is withdrawn."""
    unit = get_unit(session=session, ticket_id=ticket.id, department_code=ticket.department_code)
    if unit is not None:
        withdraw(
            session=session,
            ticket=ticket,
            unit=unit,
            actor=actor,
            reason=f"{unit.department_name}改为主办单位",
            now=now,
        )


def fire(*, session: Session, ticket: Ticket, clock: Clock, cause: str, now: datetime) -> None:
    """A co-unit's limit ran out: late 签收 or a late part, counted against that unit."""
    unit = session.get(CoHandler, clock.cohandler_id)
    if unit is None or unit.state not in ACTIVE or TicketState(ticket.state) not in WORKING:
        return  # a ticket merged, split or resolved meanwhile holds no co-unit late
    what = "签收" if clock.kind == RESPONSE else "提交协办意见"
    _event(
        session,
        ticket,
        unit,
        K.COHANDLER_OVERDUE,
        "system",
        f"超时：{unit.department_name}{what}时限已到",
        now,
        event_id=deterministic_event_id(ticket.id, cause),
        clock="response" if clock.kind == RESPONSE else "part",
    )


def stop_all(*, session: Session, ticket: Ticket, now: datetime) -> None:
    """The ticket left the units' hands (closed, merged, split): no co-unit is late any more."""
    for unit in list_units(session=session, ticket_id=ticket.id):
        _stop(session, unit, CLOCKS, now)


def get_ticket_for_unit(
    *, session: Session, ticket_no: str, department_code: str, lock: bool = False
) -> Ticket | None:
    """A ticket by number, only if `department_code` co-handles it (now or before)."""
    ticket = service.get_ticket_for(
        session=session, ticket_no=ticket_no, department_code=None, lock=lock
    )
    if ticket is None:
        return None
    stmt = select(CoHandler.id).where(
        CoHandler.ticket_id == ticket.id,
        CoHandler.department_code == department_code,
        CoHandler.state.in_(ACTIVE),
    )
    return ticket if session.execute(stmt).first() else None
