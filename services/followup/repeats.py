"""Repeat callers (重复来电): the same person reporting the same thing again is linked, not new.

When a new item is routed to a unit, followup looks for an open ticket of the same caller
(the same WeChat openid, or the same phone number) received within the window, whose text is
close enough to the new one. If there is one, the new ticket opens as `merged` into it: no
clocks of its own, not counted again in any unit's 三率, the citizen told which ticket carries
their request, and the new words added to that ticket as a note so the unit reads them. The
centre can unlink it (`unlink`): the ticket then runs on its own, clocks from now.

Callers are compared by the keyed hash intake gives every contact (`feedbackloop.callers`),
so no phone number is needed for it; texts by the Jaccard similarity of their character bigrams,
which suits unsegmented Chinese.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop import callers
from feedbackloop.events import (
    Contact,
    Envelope,
    TicketEvent,
    TicketEventKind,
    TicketState,
    deterministic_event_id,
)
from services.followup import clocks, service
from services.followup.calendar import WorkingCalendar
from services.followup.models import Ticket
from services.followup.sla import SlaBook

#: States a repeat can be linked to: the request is still being worked.
LINKABLE = ("routed", "accepted", "reopened")
NOT_LINKED = "这张工单不是关联到其他工单的重复诉求"
_NOT_TEXT = re.compile(r"[\s\W_]+")


@dataclass(frozen=True)
class RepeatRules:
    """How repeats are found (followup's settings: `repeat_window_hours`, `repeat_similarity`)."""

    contact_key: str
    window: timedelta
    similarity: float


def caller_key(contact: Contact | None, *, contact_key: str) -> str | None:
    """The key naming the caller: intake's (`Contact.caller_key`), else one made from the
    openid (items from before intake named callers); None if anonymous."""
    if contact is None:
        return None
    return contact.caller_key or callers.caller_key(
        contact_key=contact_key, openid=contact.wechat_openid
    )


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' character bigrams (punctuation and space dropped)."""
    grams_a, grams_b = _bigrams(a), _bigrams(b)
    if not grams_a or not grams_b:
        return 0.0
    return len(grams_a & grams_b) / len(grams_a | grams_b)


def _bigrams(text: str) -> set[str]:
    bare = _NOT_TEXT.sub("", text)
    return {bare[i : i + 2] for i in range(len(bare) - 1)} or ({bare} if bare else set())


def find_master(
    *,
    session: Session,
    rules: RepeatRules,
    ticket: Ticket,
) -> Ticket | None:
    """The caller's open ticket the new one repeats, the most similar; None if none."""
    if ticket.caller_key is None:
        return None
    text, received_at = f"{ticket.title or ''}{ticket.text}", ticket.received_at
    stmt = (
        select(Ticket)
        .where(
            Ticket.caller_key == ticket.caller_key,
            Ticket.id != ticket.id,
            Ticket.state.in_(LINKABLE),
            Ticket.repeat_of.is_(None),
            Ticket.received_at >= received_at - rules.window,
        )
        .order_by(Ticket.received_at.desc())
        .limit(50)
    )
    best, score = None, rules.similarity
    for ticket in session.execute(stmt).scalars():
        found = similarity(f"{ticket.title or ''}{ticket.text}", text)
        if found >= score:
            best, score = ticket, found
    return best


def link(
    *, session: Session, ticket: Ticket, master: Ticket, now: datetime, event_id: str
) -> Envelope[TicketEvent]:
    """Open `ticket` as a repeat of `master`: merged, with a note of its words on the master.

    The ticket keeps the router's choice of unit, for an unlinking."""
    ticket.repeat_of = master.id
    ticket.state = TicketState.MERGED.value
    ticket.due_at = master.due_at
    words = f"{ticket.title or ''} {ticket.text}".strip()
    service.create_event(
        session=session,
        ticket=master,
        kind=TicketEventKind.NOTED,
        state_from=master.state,
        actor="system",
        reason=f"同一市民再次反映（工单 {ticket.ticket_no}，已关联本工单）：{words}",
        now=now,
        event_id=deterministic_event_id(event_id, "repeat-note"),
    )
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.MERGED,
        state_from=None,
        actor="system",
        reason=f"同一市民重复反映，已关联工单 {master.ticket_no} 一并办理",
        now=now,
        event_id=event_id,
    )


def master_of(*, session: Session, ticket: Ticket) -> Ticket | None:
    """The ticket a repeat is linked to."""
    return session.get(Ticket, ticket.repeat_of) if ticket.repeat_of else None


def unlink(
    *,
    session: Session,
    book: SlaBook,
    calendar: WorkingCalendar,
    ticket: Ticket,
    actor: str,
    reason: str,
    now: datetime,
) -> Envelope[TicketEvent]:
    """The centre undoes a link: the ticket runs on its own at the unit the router chose, its
    clocks from now (the citizen's wait so far was on the other ticket's clock)."""
    master = master_of(session=session, ticket=ticket)
    if ticket.state != TicketState.MERGED.value or master is None:
        raise ValueError(NOT_LINKED)
    ticket.repeat_of = None
    # A ticket merged from the dispatch desk goes back there; the rest to the router's unit.
    desk = ticket.routing_method == "triage"
    ticket.state = (TicketState.TRIAGE if desk else TicketState.ROUTED).value
    for kind in ("resolution",) if desk else ("response", "resolution"):
        clocks.create_limit(
            session=session, book=book, calendar=calendar, ticket=ticket, kind=kind, at=now
        )
    where = "转人工分派" if desk else f"由{ticket.department_name}单独办理"
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=TicketEventKind.REROUTED,
        state_from=TicketState.MERGED.value,
        actor=actor,
        reason=f"取消与工单 {master.ticket_no} 的关联，{where}：{reason}",
        now=now,
    )
