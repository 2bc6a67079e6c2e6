"""Router store operations: the triage queue and corrections."""

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import Candidate, Envelope, FeedbackReceived, encode
from services.router.models import Correction, TriageItem


def create_triage_item(
    *,
    session: Session,
    received: Envelope[FeedbackReceived],
    candidates: list[Candidate],
    priority: str,
    now: datetime,
) -> bool:
    """Queue an item for an operator; False if it is queued already (a redelivery)."""
    if session.get(TriageItem, received.data.ticket_id) is not None:
        return False
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
