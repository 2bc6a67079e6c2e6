"""Router store operations: the triage queue and corrections."""

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import Candidate, Envelope, FeedbackReceived, encode
from services.router.models import Correction, RoutingRecord, TriageItem


def create_triage_item(
    *,
    session: Session,
    received: Envelope[FeedbackReceived],
    candidates: list[Candidate],
    priority: str,
    now: datetime,
) -> bool:
    """Queue an item for an operator; False if it is queued already (a redelivery).

    An item assigned before and returned twice since goes back into the queue.
    """
    existing = session.get(TriageItem, received.data.ticket_id)
    if existing is not None:
        if existing.assigned_to is None:
            return False
        existing.assigned_to = existing.assigned_by = existing.assigned_at = None
        existing.candidates = json.dumps([c.model_dump() for c in candidates], ensure_ascii=False)
        return True
    session.add(
        TriageItem(
            ticket_id=received.data.ticket_id,
            ticket_no=received.data.ticket_no,
            received_event=encode(received),
            candidates=json.dumps([c.model_dump() for c in candidates], ensure_ascii=False),
            priority=priority,
            created_at=now,
        )
    )
    return True


def list_open_triage(*, session: Session, limit: int) -> list[TriageItem]:
    """Items still waiting for an operator, oldest first."""
    stmt = (
        select(TriageItem)
        .where(TriageItem.assigned_to.is_(None))
        .order_by(TriageItem.created_at)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def get_triage_item(*, session: Session, ticket_no: str) -> TriageItem | None:
    """A triage item by ticket number."""
    stmt = select(TriageItem).where(TriageItem.ticket_no == ticket_no)
    return session.execute(stmt).scalar_one_or_none()


def candidates_of(item: TriageItem) -> list[Candidate]:
    """The model's top departments stored with a triage item."""
    return [Candidate(**c) for c in json.loads(item.candidates)]


def update_assigned(
    *, session: Session, item: TriageItem, department_code: str, operator: str, now: datetime
) -> None:
    """Record the operator's choice on a triage item."""
    item.assigned_to = department_code
    item.assigned_by = operator
    item.assigned_at = now


def create_correction(
    *, session: Session, ticket_id: str, text: str, category: str, source: str, now: datetime
) -> None:
    """Keep a person's category choice for the next training run."""
    session.add(
        Correction(ticket_id=ticket_id, text=text, category=category, source=source, created_at=now)
    )


def list_corrections(*, session: Session) -> list[Correction]:
    """Every correction, oldest first."""
    return list(session.execute(select(Correction).order_by(Correction.id)).scalars())


def create_routing_records(
    *,
    session: Session,
    records: list[tuple[Envelope[FeedbackReceived], list[tuple[str, float]], str]],
    now: datetime,
) -> None:
    """Remember each routed item, its category ranking and the department it went to."""
    for received, ranking, department in records:
        if session.get(RoutingRecord, received.data.ticket_id) is None:
            session.add(
                RoutingRecord(
                    ticket_id=received.data.ticket_id,
                    received_event=encode(received),
                    ranking=json.dumps(ranking, ensure_ascii=False),
                    tried=json.dumps([department]),
                    returns=0,
                    updated_at=now,
                )
            )


def get_routing_record(*, session: Session, ticket_id: str) -> RoutingRecord | None:
    """What the router decided for a ticket."""
    return session.get(RoutingRecord, ticket_id)


def update_returned(
    *, session: Session, record: RoutingRecord, tried: list[str], returns: int, now: datetime
) -> None:
    """Record a return and the departments tried so far."""
    record.tried = json.dumps(tried)
    record.returns = returns
    record.updated_at = now
