"""Durable clocks: SLA limits (签收, 办结) and survey timers, stored with the ticket.

Every moment a clock has (the 75% warning, the deadline) fires once: the runner marks it
fired in the same transaction as the events it records, and those events carry ids derived
from the clock and the moment, so even two runners racing cannot record it twice. After a
restart, whatever came due meanwhile is found by `next_at <= now` and fires then.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.followup import ladder
from services.followup.calendar import WorkingCalendar
from services.followup.models import Clock, Ticket
from services.followup.service import OPEN_STATES
from services.followup.sla import Limit, SlaBook

LIMITS = ("response", "resolution")
SURVEY_INVITE = "survey_invite"
SURVEY_EXPIRY = "survey_expiry"


@dataclass(frozen=True)
class Due:
    """A moment of a clock that has come: which clock, and whether warning or deadline."""

    clock: Clock
    moment: str  # "warning" | "deadline"


def _limit(book: SlaBook, ticket: Ticket, kind: str) -> Limit:
    policy = next((p for p in book.policies if p.name == ticket.policy), book.policies[-1])
    return policy.response if kind == "response" else policy.resolution


def _next(clock: Clock) -> datetime | None:
    if clock.stopped_at is not None or clock.paused_at is not None:
        return None
    if clock.warn_at is not None and clock.warned_at is None:
        return clock.warn_at
    return clock.due_at if clock.fired_at is None else None


def create_limit(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    ticket: Ticket,
    kind: str,
    at: datetime,
) -> Clock:
    """Start a ticket's response or resolution limit at `at`."""
    started = book.start(calendar, _limit(book, ticket, kind), at)
    clock = Clock(
        ticket_id=ticket.id,
        kind=kind,
        started_at=at,
        warn_at=started.warn_at,
        due_at=started.due_at,
    )
    clock.next_at = _next(clock)
    session.add(clock)
    if kind == "resolution":
        ticket.due_at = started.due_at
        ladder.create_steps(
            session=session, book=book, calendar=calendar, ticket=ticket, resolution=clock
        )
    return clock


def create_timer(*, session: Session, ticket: Ticket, kind: str, due_at: datetime) -> Clock:
    """Start a timer that fires once at `due_at` (survey invitation or expiry)."""
    clock = Clock(ticket_id=ticket.id, kind=kind, started_at=due_at, due_at=due_at)
    clock.next_at = _next(clock)
    session.add(clock)
    return clock


def _running(session: Session, ticket: Ticket, kinds: tuple[str, ...]) -> list[Clock]:
    stmt = select(Clock).where(
        Clock.ticket_id == ticket.id, Clock.kind.in_(kinds), Clock.stopped_at.is_(None)
    )
    return list(session.execute(stmt).scalars())


def update_stopped(
    *, session: Session, ticket: Ticket, kinds: tuple[str, ...], now: datetime
) -> None:
    """Stop a ticket's running clocks of some kinds (the limit was met or no longer applies)."""
    for clock in _running(session, ticket, kinds):
        clock.stopped_at = now
        clock.next_at = None
    if "resolution" in kinds:
        ladder.update_stopped(session=session, ticket=ticket, now=now)


def update_paused(*, session: Session, ticket: Ticket, now: datetime) -> int:
    """Pause a ticket's running limits (waiting on the citizen); how many were paused."""
    paused = 0
    for clock in _running(session, ticket, LIMITS):
        if clock.paused_at is None:
            clock.paused_at = now
            clock.next_at = None
            paused += 1
    if paused:
        ladder.update_paused(session=session, ticket=ticket, now=now)
    return paused


def is_paused(*, session: Session, ticket: Ticket) -> bool:
    """Whether a ticket's running limits stand still."""
    return any(clock.paused_at is not None for clock in _running(session, ticket, LIMITS))


def update_resumed(
    *, session: Session, book: SlaBook, calendar: WorkingCalendar, ticket: Ticket, now: datetime
) -> int:
    """Resume paused limits: their deadlines move by the time they stood still."""
    resumed = 0
    for clock in _running(session, ticket, LIMITS):
        if clock.paused_at is None:
            continue
        limit = _limit(book, ticket, clock.kind)
        if clock.fired_at is None:
            left = book.remaining(calendar, limit, clock.paused_at, clock.due_at)
            clock.due_at = book.resume(calendar, limit, now, left)
        if clock.warn_at is not None and clock.warned_at is None:
            left = book.remaining(calendar, limit, clock.paused_at, clock.warn_at)
            clock.warn_at = book.resume(calendar, limit, now, left)
        clock.paused_at = None
        clock.next_at = _next(clock)
        if clock.kind == "resolution":
            ticket.due_at = clock.due_at
            ladder.update_resumed(
                session=session, book=book, calendar=calendar, limit=limit, now=now, ticket=ticket
            )
        resumed += 1
    return resumed


def update_extended(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    ticket: Ticket,
    working_days: int,
    now: datetime,
) -> datetime:
    """Move the resolution deadline `working_days` on; warning and breach can fire again."""
    clocks = _running(session, ticket, ("resolution",))
    clock = (
        clocks[0]
        if clocks
        else create_limit(
            session=session, book=book, calendar=calendar, ticket=ticket, kind="resolution", at=now
        )
    )
    clock.due_at = calendar.end_of_working_days(max(clock.due_at, now), working_days)
    limit = _limit(book, ticket, "resolution")
    clock.warn_at = book.warn_at(calendar, limit, now, clock.due_at)
    clock.warned_at = clock.fired_at = None
    clock.next_at = _next(clock)
    ticket.due_at = clock.due_at
    ladder.update_extended(
        session=session, book=book, calendar=calendar, ticket=ticket, resolution=clock
    )
    return clock.due_at


def list_due(*, session: Session, now: datetime, limit: int) -> list[Due]:
    """Moments that have come and not fired yet, oldest first, locked for this transaction."""
    stmt = (
        select(Clock)
        .where(Clock.next_at.is_not(None), Clock.next_at <= now)
        .order_by(Clock.next_at, Clock.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    due = []
    for clock in session.execute(stmt).scalars():
        if clock.warn_at is not None and clock.warned_at is None and clock.warn_at <= now:
            due.append(Due(clock, "warning"))
        if clock.fired_at is None and clock.due_at <= now:
            due.append(Due(clock, "deadline"))
    return due


def update_fired(*, clock: Clock, moment: str, now: datetime) -> None:
    """Mark a moment of a clock as fired."""
    if moment == "warning":
        clock.warned_at = now
    else:
        clock.fired_at = now
        if clock.warned_at is None and clock.warn_at is not None:
            clock.warned_at = now  # a deadline passed while down also settles its warning
    clock.next_at = _next(clock)


def overdue_by(clock: Clock, now: datetime) -> timedelta:
    """How long past its deadline a clock is (zero if not)."""
    return max(now - clock.due_at, timedelta())


class SlaState(StrEnum):
    """Where an open ticket stands against its resolution deadline (办结时限)."""

    ON_TIME = "on_time"  # before the 催办 warning moment
    DUE_SOON = "due_soon"  # the warning moment (75% of the limit) has passed
    OVERDUE = "overdue"  # the deadline has passed (超时)
    PAUSED = "paused"  # the clock stands still while waiting on the citizen


def list_resolution_clocks(*, session: Session, ticket_ids: list[str]) -> dict[str, Clock]:
    """The running resolution clock of each of these tickets (tickets without one are left out)."""
    if not ticket_ids:
        return {}
    stmt = select(Clock).where(
        Clock.ticket_id.in_(ticket_ids), Clock.kind == "resolution", Clock.stopped_at.is_(None)
    )
    return {clock.ticket_id: clock for clock in session.execute(stmt).scalars()}


def sla_state(*, ticket: Ticket, clock: Clock | None, now: datetime) -> SlaState | None:
    """The SLA state of a ticket (None once it is no longer open)."""
    if ticket.state not in OPEN_STATES:
        return None
    if clock is not None and clock.paused_at is not None:
        return SlaState.PAUSED
    if ticket.due_at <= now:
        return SlaState.OVERDUE
    if clock is not None and clock.warn_at is not None and clock.warn_at <= now:
        return SlaState.DUE_SOON
    return SlaState.ON_TIME
