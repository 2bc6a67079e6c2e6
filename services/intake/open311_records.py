"""What Open311 may list of a ticket, kept from `ticket.events` beside the status read model.

A ticket gets a record when it came in through Open311 (the citizen chose a public 311 app)
or when followup publishes it (公开, with the citizen's consent); other channels' tickets stay
out of Open311 entirely. A record holds only what GeoReport lists without personal data, and
the masked public record while the ticket is published. Each state change of a recorded
ticket, and each publication, is an update for the `servicerequestupdates` extension.

Events arrive at least once and a partition's order is not the wall clock's: an event older
than the record's state is kept as an update but does not move the state back, and a
publication older than the last published/unpublished is ignored.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from feedbackloop.events import Channel, Publication, TicketEvent, TicketEventKind
from services.intake import service
from services.intake.models import Open311Request, Open311Update, Submission, TicketStatus
from services.intake.privacy import mask_personal_numbers

#: GeoReport's `closed`: the unit has answered (办结) or the ticket went into another one.
CLOSED_STATES = frozenset({"resolved", "surveyed", "closed", "merged"})


def georeport_status(state: str) -> str:
    """GeoReport's two statuses for one of the ticket's states."""
    return "closed" if state in CLOSED_STATES else "open"


def apply_event(*, session: Session, event_id: str, event: TicketEvent) -> None:
    """Keep the Open311 record and the updates of a ticket Open311 may show."""
    record = session.get(Open311Request, event.ticket_id)
    publishing = event.kind == TicketEventKind.PUBLISHED and event.publication is not None
    if record is None:
        if event.channel != Channel.OPEN311.value and not publishing:
            return
        record = Open311Request(
            ticket_id=event.ticket_id,
            ticket_no=event.ticket_no,
            channel=event.channel,
            service_code=_service_code(session, event.ticket_no),
            category=(event.category or "")[:50] or None,
            state=event.state_to.value,
            agency=(event.department_name or "")[:100] or None,
            due_at=event.due_at,
            requested_at=event.received_at,
            updated_at=event.occurred_at,
        )
        session.add(record)
        previous = None
    elif session.get(Open311Update, event_id) is not None:
        return  # a re-delivered event
    else:
        previous = record.state
        if event.occurred_at >= record.updated_at:
            record.state = event.state_to.value
            record.agency = (event.department_name or "")[:100] or record.agency
            record.due_at = event.due_at
            record.updated_at = event.occurred_at
            record.category = record.category or ((event.category or "")[:50] or None)
    if event.kind in (TicketEventKind.PUBLISHED, TicketEventKind.UNPUBLISHED):
        _publish(record, event)
    if publishing or previous != event.state_to.value:
        session.add(
            Open311Update(
                update_id=event_id,
                ticket_id=event.ticket_id,
                ticket_no=event.ticket_no,
                kind=event.kind.value,
                state=event.state_to.value,
                occurred_at=event.occurred_at,
            )
        )


def _publish(record: Open311Request, event: TicketEvent) -> None:
    publication = event.publication if event.kind == TicketEventKind.PUBLISHED else None
    if event.kind == TicketEventKind.PUBLISHED and publication is None:
        return  # a published event without its record breaks the contract: show nothing new
    if record.publication_at is not None and record.publication_at > event.occurred_at:
        return
    record.publication_at = event.occurred_at
    if publication is None:
        record.publication = None
        return
    # Followup masks the record before publishing; the numbers intake itself masks are
    # masked once more, so a slip upstream does not reach every civic app.
    masked = publication.model_copy(
        update={
            "title": mask_personal_numbers(publication.title) if publication.title else None,
            "text": mask_personal_numbers(publication.text),
            "reply": mask_personal_numbers(publication.reply),
        }
    )
    record.publication = masked.model_dump_json()


def _service_code(session: Session, ticket_no: str) -> str | None:
    # Open311 posts carry their service code in the channel reference (code/app/key); the
    # events name only the first-level category.
    submission = service.get_submission_by_ticket_no(session=session, ticket_no=ticket_no)
    if submission is None or submission.channel != Channel.OPEN311.value:
        return None
    return (submission.channel_ref or "").split("/")[0][:16] or None


def publication_of(record: Open311Request) -> Publication | None:
    """The masked public record of a published ticket, None for any other."""
    if not record.publication:
        return None
    return Publication.model_validate_json(record.publication)


@dataclass(frozen=True)
class Listing:
    """A search of the request list, as GeoReport's parameters give it."""

    start: datetime
    end: datetime
    statuses: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    limit: int = 1000


def _listed() -> ColumnElement[bool]:
    open311 = Open311Request.channel == Channel.OPEN311.value
    return or_(open311, Open311Request.publication.is_not(None))


def find_records(session: Session, ticket_nos: list[str]) -> dict[str, Open311Request]:
    """The listed records among these ticket numbers, by number."""
    stmt = select(Open311Request).where(Open311Request.ticket_no.in_(ticket_nos), _listed())
    return {row.ticket_no: row for row in session.execute(stmt).scalars()}


def list_records(session: Session, listing: Listing) -> list[Open311Request]:
    """Listed records requested in the window, newest first, at most `listing.limit`."""
    stmt = select(Open311Request).where(
        _listed(),
        Open311Request.requested_at >= listing.start,
        Open311Request.requested_at <= listing.end,
    )
    if listing.codes:
        stmt = stmt.where(Open311Request.service_code.in_(listing.codes))
    if listing.statuses and len(listing.statuses) == 1:
        closed = Open311Request.state.in_(CLOSED_STATES)
        stmt = stmt.where(closed if "closed" in listing.statuses else ~closed)
    stmt = stmt.order_by(Open311Request.requested_at.desc(), Open311Request.ticket_no.desc())
    return list(session.execute(stmt.limit(listing.limit)).scalars())


def list_unrecorded(
    session: Session, listing: Listing
) -> list[tuple[Submission, TicketStatus | None]]:
    """Open311 posts of this intake without a record yet (not routed yet, or older than it)."""
    stmt = (
        select(Submission, TicketStatus)
        .outerjoin(Open311Request, Open311Request.ticket_id == Submission.ticket_id)
        .outerjoin(TicketStatus, TicketStatus.ticket_id == Submission.ticket_id)
        .where(
            Submission.channel == Channel.OPEN311.value,
            Open311Request.ticket_id.is_(None),
            Submission.received_at >= listing.start,
            Submission.received_at <= listing.end,
        )
    )
    if listing.codes:
        stmt = stmt.where(or_(*(Submission.channel_ref.startswith(f"{c}/") for c in listing.codes)))
    if listing.statuses and len(listing.statuses) == 1:
        closed = and_(TicketStatus.state.is_not(None), TicketStatus.state.in_(CLOSED_STATES))
        stmt = stmt.where(closed if "closed" in listing.statuses else ~closed)
    stmt = stmt.order_by(Submission.received_at.desc()).limit(listing.limit)
    return [(submission, status) for submission, status in session.execute(stmt).all()]


def list_updates(
    session: Session, *, start: datetime, end: datetime, limit: int
) -> list[tuple[Open311Update, Open311Request]]:
    """Updates of listed requests in the window, oldest first, so pollers can move on."""
    stmt = (
        select(Open311Update, Open311Request)
        .join(Open311Request, Open311Request.ticket_id == Open311Update.ticket_id)
        .where(
            _listed(),
            Open311Update.occurred_at >= start,
            Open311Update.occurred_at <= end,
        )
        .order_by(Open311Update.occurred_at, Open311Update.update_id)
        .limit(limit)
    )
    return [(update, record) for update, record in session.execute(stmt).all()]
