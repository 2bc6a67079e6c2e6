"""The 督办 ladder (`ladder:` in sla.yaml): steps before, at and after the resolution deadline.

Each step of a ticket is a durable clock of kind `step:<name>` next to its resolution clock,
so it fires once like every other clock moment (see `clocks`), also after a restart; its
event id is derived from the clock and its moment. The steps follow the deadline: they pause
with it and move by the time they stood still, start again from a deadline an approved
extension moved (fired steps fire again, as the warning and breach do), and stop when the
ticket is resolved.

Firing a step records a `supervised` ticket event (with `step`); from that event the
notifications consumer sends the configured recipients a notice (`staff_notices`), the
metrics service counts it, and the workbench shows the step's label (`list_marks`).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Channel,
    Envelope,
    TicketEvent,
    TicketEventKind,
    deterministic_event_id,
)
from services.followup import service
from services.followup.calendar import BEIJING, WorkingCalendar
from services.followup.models import Clock, Ticket
from services.followup.notify import Notification
from services.followup.sla import UNIT, Ladder, LadderStep, Limit, SlaBook

log = logging.getLogger(__name__)

#: Clock kinds of ladder steps start with this; the step's name follows.
PREFIX = "step:"


def kind_of(step: LadderStep) -> str:
    """The clock kind of a step."""
    return PREFIX + step.name


def is_step(kind: str) -> bool:
    """Whether a clock kind is a ladder step's."""
    return kind.startswith(PREFIX)


def step_at(calendar: WorkingCalendar, step: LadderStep, due: datetime) -> datetime:
    """When a step falls for a resolution deadline `due`."""
    offset = step.offset
    if offset is None:
        return due
    if offset.wall_hours is not None:
        wall = timedelta(hours=offset.wall_hours)
        return due - wall if step.direction < 0 else due + wall
    if offset.working_hours is not None:
        working = timedelta(hours=offset.working_hours)
    else:
        working = calendar.working_day * (offset.working_days or 0)
    return calendar.subtract(due, working) if step.direction < 0 else calendar.add(due, working)


def _steps(session: Session, ticket: Ticket) -> list[Clock]:
    stmt = (
        select(Clock)
        .where(
            Clock.ticket_id == ticket.id,
            Clock.kind.startswith(PREFIX, autoescape=True),
            Clock.stopped_at.is_(None),
        )
        .order_by(Clock.id)
    )
    return list(session.execute(stmt).scalars())


def _new_step(ticket: Ticket, step: LadderStep, resolution: Clock, at: datetime) -> Clock:
    clock = Clock(
        ticket_id=ticket.id, kind=kind_of(step), started_at=resolution.started_at, due_at=at
    )
    clock.next_at = None if resolution.paused_at is not None else at
    clock.paused_at = resolution.paused_at
    return clock


def create_steps(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    ticket: Ticket,
    resolution: Clock,
) -> list[Clock]:
    """Start the ladder of a resolution clock; a step that would come before it started is left
    out (a reminder hours before a two-hour deadline, say)."""
    if book.ladder is None:
        return []
    created = []
    for step in book.ladder.steps:
        at = step_at(calendar, step, resolution.due_at)
        if at > resolution.started_at:
            created.append(_new_step(ticket, step, resolution, at))
    session.add_all(created)
    return created


def update_stopped(*, session: Session, ticket: Ticket, now: datetime) -> None:
    """Stop a ticket's steps (resolved, or the resolution limit no longer applies)."""
    for clock in _steps(session, ticket):
        clock.stopped_at, clock.next_at = now, None


def update_paused(*, session: Session, ticket: Ticket, now: datetime) -> None:
    """The deadline stands still: so do the steps."""
    for clock in _steps(session, ticket):
        if clock.paused_at is None:
            clock.paused_at, clock.next_at = now, None


def update_resumed(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    limit: Limit,
    now: datetime,
    ticket: Ticket,
) -> None:
    """The deadline runs again: each step still to fire moves by the time it stood still,
    counted like the resolution limit `limit` (so a step keeps its place to the deadline)."""
    for clock in _steps(session, ticket):
        if clock.paused_at is None:
            continue
        if clock.fired_at is None:
            left = book.remaining(calendar, limit, clock.paused_at, clock.due_at)
            clock.due_at = book.resume(calendar, limit, now, left)
        clock.paused_at = None
        clock.next_at = clock.due_at if clock.fired_at is None else None


def update_extended(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    ticket: Ticket,
    resolution: Clock,
) -> None:
    """An extension moved the deadline: the whole ladder starts again from the new one.

    Steps that fired fire again at their new time, as the warning and the breach do; steps
    left out before are started if they now fall after the clock's start.
    """
    if book.ladder is None:
        return
    running = {clock.kind: clock for clock in _steps(session, ticket)}
    for step in book.ladder.steps:
        at = step_at(calendar, step, resolution.due_at)
        clock = running.get(kind_of(step))
        if clock is None:
            if at > resolution.started_at:
                session.add(_new_step(ticket, step, resolution, at))
            continue
        clock.fired_at, clock.due_at = None, at
        clock.paused_at = resolution.paused_at
        clock.next_at = at if clock.paused_at is None else None


def _size(offset: Limit) -> str:
    if offset.working_days is not None:
        return f"{offset.working_days}个工作日"
    if offset.working_hours is not None:
        return f"{offset.working_hours:g}个工作小时"
    return f"{offset.wall_hours:g}小时"


def describe(ladder: Ladder, step: LadderStep, ticket: Ticket) -> str:
    """The reason a step's event gives: where the ticket stands, and who was told."""
    offset = step.offset
    local = ticket.due_at.astimezone(BEIJING)
    deadline = f"办结时限（{local.month}月{local.day}日 {local:%H:%M}）"
    if offset is None:
        where = f"{deadline}已到，尚未办结"
    elif step.direction < 0:
        where = f"距{deadline}不足{_size(offset)}"
    else:
        where = f"已超过{deadline}{_size(offset)}，尚未办结"
    told = "、".join(ladder.recipient_label(r, ticket.department_name) for r in step.notify)
    return f"{step.label}：{where}，已通知{told}"


def fire(
    *, session: Session, book: SlaBook, ticket: Ticket, clock: Clock, cause: str, now: datetime
) -> Envelope[TicketEvent] | None:
    """A step has come: its `supervised` event (once: the id derives from `cause`)."""
    step = book.ladder.step(clock.kind.removeprefix(PREFIX)) if book.ladder else None
    if step is None or book.ladder is None or ticket.state not in service.OPEN_STATES:
        # Taken out of the ladder since (or the ticket left the open states): no mark.
        log.info("ladder step %s of ticket %s dropped", clock.kind, ticket.ticket_no)
        clock.fired_at, clock.stopped_at, clock.next_at = None, now, None
        return None
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.SUPERVISED,
        state_from=ticket.state,
        actor="system",
        reason=describe(book.ladder, step, ticket),
        now=now,
        event_id=deterministic_event_id(ticket.id, cause),
        step=step.name,
    )


@dataclass(frozen=True)
class Mark:
    """A step a ticket reached, as the workbench shows it."""

    step: str
    label: str
    fired_at: datetime
    recipients: list[str]
    #: -1 before the deadline (a reminder), 0 at it, 1 after it.
    direction: int = 0

    @property
    def css(self) -> str:
        """The SLA colour the mark takes on the pages."""
        return "due_soon" if self.direction < 0 else "overdue"


def list_marks(*, session: Session, book: SlaBook, ticket_nos: list[str]) -> dict[str, list[Mark]]:
    """Ticket number -> the steps its tickets reached, in the order they fired."""
    if not ticket_nos:
        return {}
    stmt = (
        select(Clock, Ticket.ticket_no, Ticket.department_name)
        .join(Ticket, Ticket.id == Clock.ticket_id)
        .where(
            Ticket.ticket_no.in_(ticket_nos),
            Clock.kind.startswith(PREFIX, autoescape=True),
            Clock.fired_at.is_not(None),
        )
        .order_by(Clock.fired_at, Clock.id)
    )
    marks: dict[str, list[Mark]] = {}
    for clock, ticket_no, unit in session.execute(stmt):
        name = clock.kind.removeprefix(PREFIX)
        step = book.ladder.step(name) if book.ladder else None
        recipients = (
            [book.ladder.recipient_label(r, unit) for r in step.notify]
            if step and book.ladder
            else []
        )
        assert clock.fired_at is not None
        label, direction = (step.label, step.direction) if step else (name, 0)
        mark = Mark(name, label, clock.fired_at, recipients, direction)
        marks.setdefault(ticket_no, []).append(mark)
    return marks


def staff_notices(
    *,
    book: SlaBook,
    webhooks: Mapping[str, str],
    base_url: str,
    event: Envelope[TicketEvent],
) -> list[Notification]:
    """The notices a `supervised` event sends its step's recipients, one each.

    A recipient is reached at its webhook (`staff_webhooks` setting: the recipient's name, or
    `unit:<department code>` before `unit` for the ticket's unit); one without a webhook
    sees the step on the workbench only. The notice names the ticket, its unit and where it
    stands, never the citizen or their words.
    """
    data = event.data
    ladder = book.ladder
    if data.kind is not TicketEventKind.SUPERVISED or ladder is None or not data.step:
        return []
    step = ladder.step(data.step)
    if step is None:
        return []
    notices = []
    for recipient in step.notify:
        url = webhooks.get(recipient)
        if recipient == UNIT:
            url = webhooks.get(f"{UNIT}:{data.department_code}") or url
        if not url:
            continue
        link = f"{base_url.rstrip('/')}/workbench/tickets/{data.ticket_no}"
        text = (
            f"【12345{step.label}】工单{data.ticket_no}（{data.department_name or '承办单位'}）"
            f"{(data.reason or step.label).removeprefix(step.label + '：')}。详情：{link}"
        )
        notices.append(
            Notification(
                event_id=deterministic_event_id(event.id, f"staff/{recipient}"),
                ticket_no=data.ticket_no,
                channel=Channel(data.channel) if data.channel else Channel.WEB,
                purpose=f"supervised:{step.name}",
                text=text,
                staff_url=url,
            )
        )
    return notices
