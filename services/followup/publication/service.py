"""公开: when a ticket is on the public board, what the board shows of it, and who changed that.

A ticket is public while all of these hold: the unit has answered it (it has its reply and a
resolution time: resolved, surveyed, closed, or reopened after an answer), the citizen agreed
(intake's contact, or later on the status page) and the centre has not withheld it (暂不公开).
Directly answered consultations (直接答复) count as answered: they have their reply too.

`sync` is called by the flows after anything that can change that or the record (an answer,
a survey result); it writes the masked record to `public_items` and emits `published` when
the record is new or changed, and `unpublished` when the ticket leaves the board. Every
decision of a person (withholding, restoring, consent given or withdrawn) is an event on the
ticket's timeline with who made it.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from feedbackloop.events import Envelope, Publication, TicketEvent, TicketEventKind, TicketState
from feedbackloop.public_text import mask_for_public, mask_optional
from services.followup import service
from services.followup.models import Survey, Ticket
from services.followup.publication.models import PublicItem

K = TicketEventKind
#: States in which the unit's answer stands (a reopened ticket keeps its last one until the
#: next); merged and split tickets are answered under another number.
ANSWERED_STATES = {
    TicketState.RESOLVED.value,
    TicketState.SURVEYED.value,
    TicketState.CLOSED.value,
    TicketState.REOPENED.value,
}
#: About 100 m: a place on the board, never a doorstep.
COORDINATE_DIGITS = 3


class PublicationError(ValueError):
    """A moderation or consent action that does not apply; the message is for people."""


def is_public(ticket: Ticket) -> bool:
    """Whether the ticket belongs on the board now."""
    return (
        ticket.publication_consent
        and ticket.withheld_at is None
        and ticket.state in ANSWERED_STATES
        and ticket.reply is not None
        and ticket.resolved_at is not None
    )


def _survey(session: Session, ticket: Ticket) -> Survey | None:
    """The latest answered survey: the board shows the citizen's last word on the answer."""
    stmt = (
        select(Survey)
        .where(Survey.ticket_id == ticket.id, Survey.answered_at.is_not(None))
        .order_by(Survey.round.desc(), Survey.answered_at.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, COORDINATE_DIGITS)


def record(session: Session, ticket: Ticket) -> Publication:
    """What the board shows of an answered ticket, masked (see `feedbackloop.public_text`).

    No address (a house number is personal), no photo (faces and plates), no contact.
    """
    assert ticket.reply is not None and ticket.resolved_at is not None
    survey = _survey(session, ticket)
    answered = survey is not None and survey.satisfaction not in (None, "no_response")
    title = mask_optional(ticket.title)
    return Publication(
        title=title[:100] if title else None,
        text=mask_for_public(ticket.text)[:5000],
        reply=mask_for_public(ticket.reply)[:5000],
        category=ticket.category,
        district=ticket.district,
        lat=_rounded(ticket.latitude),
        lng=_rounded(ticket.longitude),
        resolved_at=ticket.resolved_at,
        solved=survey.solved if survey is not None and answered else None,
        satisfaction=survey.satisfaction if survey is not None and answered else None,
    )


def _store(session: Session, ticket: Ticket, shown: Publication, now: datetime) -> bool:
    """Write the record; False if the board already showed exactly this."""
    row = session.get(PublicItem, ticket.id)
    fields = {
        "ticket_no": ticket.ticket_no,
        "title": shown.title,
        "text": shown.text,
        "reply": shown.reply,
        "category": shown.category,
        "district": shown.district,
        "department_code": ticket.department_code,
        "department_name": ticket.department_name,
        "lat": shown.lat,
        "lng": shown.lng,
        "received_at": ticket.received_at,
        "resolved_at": shown.resolved_at,
        "solved": shown.solved,
        "satisfaction": shown.satisfaction,
    }
    if row is None:
        session.add(PublicItem(ticket_id=ticket.id, published_at=now, **fields))
        return True
    if all(getattr(row, name) == value for name, value in fields.items()):
        return False
    for name, value in fields.items():
        setattr(row, name, value)
    return True


def _emit(
    session: Session,
    ticket: Ticket,
    kind: K,
    actor: str,
    reason: str,
    now: datetime,
    publication: Publication | None = None,
) -> Envelope[TicketEvent]:
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=kind,
        state_from=ticket.state,
        actor=actor,
        reason=reason,
        now=now,
        publication=publication,
    )


def sync(
    *, session: Session, ticket: Ticket, actor: str, now: datetime, reason: str | None = None
) -> Envelope[TicketEvent] | None:
    """Bring the board in line with the ticket; the event if the board changed."""
    row = session.get(PublicItem, ticket.id)
    if not is_public(ticket):
        if row is None:
            return None
        session.delete(row)
        return _emit(session, ticket, K.UNPUBLISHED, actor, reason or "已从公开栏撤下", now)
    shown = record(session, ticket)
    if not _store(session, ticket, shown, now):
        return None
    default = "已在公开栏公开" if row is None else "公开栏内容已更新"
    return _emit(session, ticket, K.PUBLISHED, actor, reason or default, now, publication=shown)


def withhold(
    *, session: Session, ticket: Ticket, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """暂不公开: the centre keeps the ticket off the board (audited with its reason)."""
    if ticket.withheld_at is not None:
        raise PublicationError("这张工单已设为暂不公开")
    ticket.withheld_at, ticket.withheld_by, ticket.withheld_reason = now, actor, reason
    row = session.get(PublicItem, ticket.id)
    if row is not None:
        session.delete(row)
    # Emitted even when nothing was shown yet: the decision is on the timeline either way.
    return _emit(session, ticket, K.UNPUBLISHED, actor, f"暂不公开：{reason}", now)


def restore(
    *, session: Session, ticket: Ticket, actor: str, now: datetime
) -> Envelope[TicketEvent]:
    """Lift a withholding: the ticket is public again if it otherwise would be."""
    if ticket.withheld_at is None:
        raise PublicationError("这张工单没有设为暂不公开")
    ticket.withheld_at = ticket.withheld_by = ticket.withheld_reason = None
    event = sync(session=session, ticket=ticket, actor=actor, now=now, reason="恢复公开")
    if event is not None:
        return event
    return _emit(session, ticket, K.NOTED, actor, "取消暂不公开（符合条件后公开）", now)


def set_consent(
    *, session: Session, ticket: Ticket, consent: bool, now: datetime
) -> Envelope[TicketEvent] | None:
    """The citizen gives or withdraws consent on the status page; None if it was so already."""
    if ticket.publication_consent == consent:
        return None
    ticket.publication_consent = consent
    if not consent:
        row = session.get(PublicItem, ticket.id)
        if row is not None:
            session.delete(row)
        return _emit(session, ticket, K.UNPUBLISHED, "citizen", "市民撤回公开同意", now)
    event = sync(session=session, ticket=ticket, actor="citizen", now=now, reason="市民同意公开")
    if event is not None:
        return event
    return _emit(session, ticket, K.NOTED, "citizen", "市民同意公开（办结后公开）", now)


@dataclass(frozen=True)
class BoardQuery:
    """The board's filters, validated by the pages: all optional."""

    q: str | None = None
    category: str | None = None
    department: str | None = None
    district: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt: Select[Any], query: BoardQuery) -> Select[Any]:
    if query.q:
        pattern = f"%{_escape_like(query.q)}%"
        stmt = stmt.where(
            or_(
                PublicItem.text.like(pattern, escape="\\"),
                PublicItem.reply.like(pattern, escape="\\"),
                PublicItem.title.like(pattern, escape="\\"),
            )
        )
    if query.category:
        stmt = stmt.where(PublicItem.category == query.category)
    if query.department:
        stmt = stmt.where(PublicItem.department_code == query.department)
    if query.district:
        stmt = stmt.where(PublicItem.district == query.district)
    if query.since:
        stmt = stmt.where(PublicItem.resolved_at >= query.since)
    if query.until:
        stmt = stmt.where(PublicItem.resolved_at < query.until)
    return stmt


def list_board(
    *, session: Session, query: BoardQuery, limit: int, offset: int
) -> tuple[list[PublicItem], int]:
    """One page of the board, the latest answer first, and how many match in all."""
    stmt = _filtered(select(PublicItem), query)
    total = session.execute(
        _filtered(select(func.count()).select_from(PublicItem), query)
    ).scalar_one()
    stmt = stmt.order_by(PublicItem.resolved_at.desc(), PublicItem.ticket_no.desc())
    return list(session.execute(stmt.limit(limit).offset(offset)).scalars()), int(total)


def get_item(*, session: Session, ticket_no: str) -> PublicItem | None:
    """One item of the board by ticket number (None: not on the board)."""
    if "\x00" in ticket_no:
        return None
    stmt = select(PublicItem).where(PublicItem.ticket_no == ticket_no)
    return session.execute(stmt).scalar_one_or_none()


def list_facets(*, session: Session) -> dict[str, list[tuple[str, str]]]:
    """The filter choices: categories, units and districts that have items on the board."""
    categories = session.execute(
        select(PublicItem.category).where(PublicItem.category.is_not(None)).distinct()
    ).scalars()
    districts = session.execute(
        select(PublicItem.district).where(PublicItem.district.is_not(None)).distinct()
    ).scalars()
    units = session.execute(
        select(PublicItem.department_code, PublicItem.department_name).distinct()
    ).all()
    return {
        "category": sorted((c, c) for c in categories if c),
        "district": sorted((d, d) for d in districts if d),
        "department": sorted({(code, name) for code, name in units}, key=lambda u: u[1]),
    }


def list_moderation(*, session: Session, limit: int) -> tuple[list[PublicItem], list[Ticket]]:
    """For the centre's moderation list: the newest items on the board, and withheld tickets."""
    shown = session.execute(
        select(PublicItem).order_by(PublicItem.published_at.desc()).limit(limit)
    ).scalars()
    withheld = session.execute(
        select(Ticket).where(Ticket.withheld_at.is_not(None)).order_by(Ticket.withheld_at.desc())
    ).scalars()
    return list(shown), list(withheld)[:limit]


@dataclass(frozen=True)
class Standing:
    """Where a ticket stands with the board, for the workbench's ticket page."""

    consent: bool
    shown: bool
    withheld_by: str | None
    withheld_reason: str | None


def get_standing(*, session: Session, ticket_no: str) -> Standing | None:
    """The ticket's consent, whether it is on the board, and any withholding."""
    ticket = service.get_ticket(session=session, ticket_no=ticket_no)
    if ticket is None:
        return None
    return Standing(
        consent=ticket.publication_consent,
        shown=session.get(PublicItem, ticket.id) is not None,
        withheld_by=ticket.withheld_by if ticket.withheld_at else None,
        withheld_reason=ticket.withheld_reason if ticket.withheld_at else None,
    )
