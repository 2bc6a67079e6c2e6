"""并单 and 拆分: the centre merges tickets about one matter, and splits a ticket about two.

Merge. The router marks an item whose text nearly repeats a recent one (`duplicate_of` on
its routing decision); followup keeps that suggestion on the ticket and the operators'
console lists the open pairs (`list_suggestions`). A merge (`merge`) makes the ticket a
follower of the master: state `merged`, its clocks stopped, its words added to the master as
a note. When the master is resolved, its followers are resolved with the master's reply
(`follow`): each other citizen is told the answer and surveyed; a repeat of the master's own
caller (重复来电, see `repeats`) is closed with it, since that citizen hears it on the master.
The centre undoes a merge with `repeats.unlink`.

Split. A call about two problems becomes two or more children (`split`): each is a new item
on feedback.received, with its own number, so the router routes it on its own and followup
opens it like any other; the parent closes, naming its children. Children inherit the
parent's receipt time (the citizen has waited since the call), channel, place and contact.
The centre undoes a split (`unsplit`) while no child is resolved: the children close, the
parent goes back to the dispatch desk.

Child numbers are the parent's with intake node digit 9, which intake never uses, and the
part's index: readable on the phone, checked by the same Damm digit, and never another's.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased
from stdnum import damm

from feedbackloop.events import (
    Channel,
    Contact,
    Envelope,
    FeedbackReceived,
    Location,
    TicketEvent,
    TicketEventKind,
    TicketState,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from services.followup import clocks, service
from services.followup.models import OutboxMessage, Ticket

#: States a ticket can be merged from, and states a master must be in: still being worked.
MERGEABLE = ("triage", "routed", "accepted", "reopened")
MASTER_STATES = ("routed", "accepted", "reopened")
#: The intake node digit reserved for split children.
SPLIT_NODE = "9"
MAX_PARTS = 5
SOURCE = "feedbackloop/followup/split"


@dataclass(frozen=True)
class Suggestion:
    """A ticket the router found nearly the same as an earlier open one."""

    ticket: Ticket
    master: Ticket


def list_suggestions(*, session: Session, limit: int = 50) -> list[Suggestion]:
    """Open tickets with an open near-duplicate master, newest first."""
    master = aliased(Ticket)
    stmt = (
        select(Ticket, master)
        .join(master, master.ticket_no == Ticket.duplicate_of)
        .where(
            Ticket.state.in_(MERGEABLE),
            Ticket.repeat_of.is_(None),
            master.state.in_(MASTER_STATES),
            master.id != Ticket.id,
        )
        .order_by(Ticket.received_at.desc())
        .limit(limit)
    )
    return [Suggestion(ticket, found) for ticket, found in session.execute(stmt)]


def merge(
    *, session: Session, ticket: Ticket, master: Ticket, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """并单: `ticket` follows `master` from now on."""
    if ticket.id == master.id:
        raise ValueError("不能把工单并入它自己")
    if ticket.state not in MERGEABLE or ticket.repeat_of is not None:
        raise ValueError(f"工单 {ticket.ticket_no} 当前状态不能并单")
    if master.state not in MASTER_STATES or master.repeat_of is not None:
        raise ValueError(f"主工单 {master.ticket_no} 不在办理中，不能并入")
    state_from = ticket.state
    for follower in followers(session=session, master=ticket):
        follower.repeat_of = master.id  # they follow where their master goes
    ticket.repeat_of, ticket.state = master.id, TicketState.MERGED.value
    clocks.update_stopped(session=session, ticket=ticket, kinds=clocks.LIMITS, now=now)
    words = f"{ticket.title or ''} {ticket.text}".strip()
    event = service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.MERGED,
        state_from=state_from,
        actor=actor,
        reason=f"并入工单 {master.ticket_no} 一并办理：{reason}",
        now=now,
    )
    service.create_event(
        session=session,
        ticket=master,
        kind=TicketEventKind.NOTED,
        state_from=master.state,
        actor=actor,
        reason=f"工单 {ticket.ticket_no} 已并入本工单：{words}",
        now=now,
        event_id=deterministic_event_id(event.id, "master-note"),
    )
    return event


def followers(*, session: Session, master: Ticket) -> list[Ticket]:
    """The tickets merged into `master` (by the centre, or as repeats)."""
    stmt = (
        select(Ticket)
        .where(Ticket.repeat_of == master.id, Ticket.state == TicketState.MERGED.value)
        .order_by(Ticket.received_at)
    )
    return list(session.execute(stmt).scalars())


def follow(
    *, session: Session, master: Ticket, survey_delay: timedelta, now: datetime
) -> list[Envelope[TicketEvent]]:
    """The master was resolved: its followers are too, with its reply."""
    done = []
    for ticket in followers(session=session, master=master):
        ticket.reply = master.reply
        ticket.resolved_at = now
        own = ticket.caller_key is not None and ticket.caller_key == master.caller_key
        # The master's own caller hears the answer and is surveyed on the master.
        kind = TicketEventKind.CLOSED if own else TicketEventKind.RESOLVED
        ticket.state = (TicketState.CLOSED if own else TicketState.RESOLVED).value
        done.append(
            service.create_event(
                session=session,
                ticket=ticket,
                kind=kind,
                state_from=TicketState.MERGED.value,
                actor="system",
                reason=master.reply if not own else f"随工单 {master.ticket_no} 办结",
                now=now,
            )
        )
        if not own:
            clocks.create_timer(
                session=session,
                ticket=ticket,
                kind=clocks.SURVEY_INVITE,
                due_at=now + survey_delay,
            )
    return done


@dataclass(frozen=True)
class Part:
    """One problem of a split ticket, in the operator's words."""

    text: str
    title: str | None = None


def child_number(parent_no: str, index: int) -> str:
    """The number of a split's `index`-th child (1-based): see the module's docstring."""
    body = parent_no[:6] + SPLIT_NODE + parent_no[6:-1] + str(index)
    return body + str(damm.calc_check_digit(body))


def children(*, session: Session, parent: Ticket) -> list[Ticket]:
    """The children of a split that followup has opened (the router may still hold some)."""
    stmt = select(Ticket).where(Ticket.split_from == parent.ticket_no).order_by(Ticket.ticket_no)
    return list(session.execute(stmt).scalars())


def split(
    *,
    session: Session,
    ticket: Ticket,
    parts: list[Part],
    actor: str,
    reason: str,
    now: datetime,
) -> Envelope[TicketEvent]:
    """拆分: each part a new item for the router; the parent closes, naming them."""
    if not 2 <= len(parts) <= MAX_PARTS:
        raise ValueError(f"拆分需要 2 到 {MAX_PARTS} 个诉求")
    if ticket.state not in MERGEABLE or ticket.split_from is not None:
        raise ValueError(f"工单 {ticket.ticket_no} 当前状态不能拆分")
    if ticket.ticket_no[6:7] == SPLIT_NODE:
        raise ValueError("拆分出的工单不能再拆分")
    numbers = [child_number(ticket.ticket_no, i) for i, _ in enumerate(parts, start=1)]
    for number, part in zip(numbers, parts, strict=True):
        _publish_child(session, ticket, number, part, now)
    state_from = ticket.state
    ticket.state, ticket.split_parts = TicketState.CLOSED.value, len(parts)
    clocks.update_stopped(session=session, ticket=ticket, kinds=clocks.LIMITS, now=now)
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.CLOSED,
        state_from=state_from,
        actor=actor,
        reason=f"拆分为工单 {'、'.join(numbers)} 分别办理：{reason}",
        now=now,
    )


def _publish_child(
    session: Session, parent: Ticket, number: str, part: Part, now: datetime
) -> None:
    child_id = str(uuid.uuid5(uuid.UUID(parent.id), number))
    item = FeedbackReceived(
        ticket_id=child_id,
        ticket_no=number,
        channel=Channel(parent.channel),
        received_at=parent.received_at,
        title=part.title,
        text=part.text,
        location=Location(
            address=parent.address,
            district=parent.district,
            lat=parent.latitude,
            lng=parent.longitude,
        )
        if parent.address or parent.district or parent.latitude is not None
        else None,
        contact=Contact(
            phone_masked=parent.phone_masked,
            callback_consent=parent.callback_consent,
            wechat_openid=parent.wechat_openid,
            phone_sealed=parent.phone_sealed,
            caller_key=parent.caller_key,
        )
        if parent.phone_masked or parent.wechat_openid
        else None,
        split_from=parent.ticket_no,
    )
    event = new_event(
        data=item,
        source=SOURCE,
        subject=child_id,
        event_id=deterministic_event_id(parent.id, f"split/{number}"),
        time=now,
    )
    session.add(
        OutboxMessage(
            event_id=event.id,
            topic=FEEDBACK_RECEIVED,
            key=child_id,
            payload=encode(event),
            created_at=now,
        )
    )


def unsplit(
    *, session: Session, ticket: Ticket, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """The centre undoes a split: open children close, the parent goes to the dispatch desk."""
    if ticket.state != TicketState.CLOSED.value or ticket.split_parts is None:
        raise ValueError(f"工单 {ticket.ticket_no} 不是拆分后的原工单")
    opened = children(session=session, parent=ticket)
    if len(opened) < ticket.split_parts:
        raise ValueError("拆分出的工单尚未全部派出，请稍后再撤销拆分")
    if any(child.state not in MERGEABLE for child in opened):
        raise ValueError("已有拆分出的工单办结或并单，不能撤销拆分")
    for child in opened:
        state_from = child.state
        child.state = TicketState.CLOSED.value
        clocks.update_stopped(session=session, ticket=child, kinds=clocks.LIMITS, now=now)
        service.create_event(
            session=session,
            ticket=child,
            kind=TicketEventKind.CLOSED,
            state_from=state_from,
            actor=actor,
            reason=f"撤销拆分，并回原工单 {ticket.ticket_no}：{reason}",
            now=now,
        )
    ticket.state, ticket.split_parts = TicketState.TRIAGE.value, None
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.REROUTED,
        state_from=TicketState.CLOSED.value,
        actor=actor,
        reason=f"撤销拆分，转人工分派：{reason}",
        now=now,
    )
