"""Router store operations: the triage queue and corrections."""

import json
from datetime import datetime

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.orm import Session

from feedbackloop.events import Candidate, Envelope, FeedbackReceived, HotspotDetected, encode
from services.router.models import (
    Correction,
    Delivery,
    HotspotRecord,
    RoutingRecord,
    TriageItem,
)


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
    item = received.data
    rows = [(item.ticket_id, item.ticket_no, encode(received), candidates, priority)]
    return bool(create_triage_items(session=session, items=rows, now=now))


def create_triage_items(
    *,
    session: Session,
    items: list[tuple[str, str, bytes, list[Candidate], str]],
    now: datetime,
) -> int:
    """Queue items (ticket id, ticket no, received event, candidates, priority) for an
    operator; how many were queued (an item already waiting is left as it is)."""
    ids = [ticket_id for ticket_id, *_ in items]
    # Looked up in one query. Held in this dict: the session's identity map holds objects
    # weakly, so looking them up there later finds them only if nothing collected them.
    known = {
        item.ticket_id: item
        for item in session.execute(select(TriageItem).where(TriageItem.ticket_id.in_(ids)))
        .scalars()
        .all()
    }
    rows: dict[str, dict[str, object]] = {}
    requeued = 0
    for ticket_id, ticket_no, received_event, candidates, priority in items:
        if ticket_id in rows:  # twice in one batch: queued once
            continue
        listed = json.dumps([c.model_dump() for c in candidates], ensure_ascii=False)
        existing = known.get(ticket_id)
        if existing is not None:
            if existing.assigned_to is None:
                continue  # a redelivery: it is waiting already
            # Assigned before and returned twice since: back into the queue.
            existing.assigned_to = existing.assigned_by = existing.assigned_at = None
            existing.candidates = listed
            requeued += 1
            continue
        rows[ticket_id] = {
            "ticket_id": ticket_id,
            "ticket_no": ticket_no,
            "received_event": received_event,
            "candidates": listed,
            "priority": priority,
            "created_at": now,
        }
    if rows:
        # One executemany for the new ones instead of a unit-of-work flush per object.
        session.execute(insert(TriageItem), list(rows.values()))
    return requeued + len(rows)


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
    if "\x00" in ticket_no:  # never in a ticket number; PostgreSQL refuses it in a query
        return None
    stmt = select(TriageItem).where(TriageItem.ticket_no == ticket_no)
    return session.execute(stmt).scalar_one_or_none()


def candidates_of(item: TriageItem) -> list[Candidate]:
    """The model's top departments stored with a triage item."""
    return [Candidate(**c) for c in json.loads(item.candidates)]


def update_assigned(
    *, session: Session, ticket_no: str, department_code: str, operator: str, now: datetime
) -> bool:
    """Record the operator's choice on a triage item if it is still waiting; whether it was.

    One conditional UPDATE, so of two operators assigning at once exactly one changes the
    row: PostgreSQL makes the second wait on the row lock and re-checks the condition on the
    committed row; SQLite lets one writer in at a time. Until the transaction ends, every
    other assignment of the item waits for its outcome.
    """
    result = session.execute(
        update(TriageItem)
        .where(TriageItem.ticket_no == ticket_no, TriageItem.assigned_to.is_(None))
        .values(assigned_to=department_code, assigned_by=operator, assigned_at=now)
        .execution_options(synchronize_session=False)
    )
    return isinstance(result, CursorResult) and result.rowcount == 1


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
    records: list[tuple[str, bytes, list[tuple[str, float]], str]],
    now: datetime,
) -> None:
    """Remember routed items: (ticket id, received event, category ranking, department).

    Items remembered before (a redelivered batch) keep their first record.
    """
    ids = [ticket_id for ticket_id, *_ in records]
    known = set(
        session.execute(select(RoutingRecord.ticket_id).where(RoutingRecord.ticket_id.in_(ids)))
        .scalars()
        .all()
    )
    rows = []
    for ticket_id, received_event, ranking, department in records:
        if ticket_id in known:
            continue
        known.add(ticket_id)
        rows.append(
            {
                "ticket_id": ticket_id,
                "received_event": received_event,
                "ranking": json.dumps(ranking, ensure_ascii=False),
                "tried": json.dumps([department]),
                "returns": 0,
                "updated_at": now,
            }
        )
    if rows:
        # One executemany for the batch instead of a unit-of-work flush per object.
        session.execute(insert(RoutingRecord), rows)


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


def create_deliveries(*, session: Session, deliveries: list[tuple[str, int, int]]) -> set[int]:
    """Remember where each (ticket id, partition, offset) was read; the positions of copies.

    A copy is an item first read at another partition or offset, or earlier in this list.
    """
    ids = [ticket_id for ticket_id, _, _ in deliveries]
    known = {
        row.ticket_id: (row.partition, row.offset)
        for row in session.execute(select(Delivery).where(Delivery.ticket_id.in_(ids))).scalars()
    }
    copies, rows = set(), []
    for position, (ticket_id, partition, offset) in enumerate(deliveries):
        first = known.get(ticket_id)
        if first is None:
            known[ticket_id] = (partition, offset)
            rows.append({"ticket_id": ticket_id, "partition": partition, "offset": offset})
        elif first != (partition, offset):
            copies.add(position)
    if rows:
        session.execute(insert(Delivery), rows)
    return copies


def create_hotspots(*, session: Session, hotspots: list[Envelope[HotspotDetected]]) -> None:
    """Remember detected hotspots (one already remembered, a redelivery, is kept as it is)."""
    if not hotspots:
        return
    ids = [event.id for event in hotspots]
    known = set(
        session.execute(select(HotspotRecord.event_id).where(HotspotRecord.event_id.in_(ids)))
        .scalars()
        .all()
    )
    rows = []
    for event in hotspots:
        if event.id in known:
            continue
        known.add(event.id)
        data = event.data
        rows.append(
            {
                "event_id": event.id,
                "place": data.place,
                "category": data.category,
                "ticket_nos": json.dumps(data.ticket_nos),
                "window_hours": data.window_hours,
                "first_at": data.first_at,
                "last_at": data.last_at,
            }
        )
    if rows:
        session.execute(insert(HotspotRecord), rows)


def list_hotspots(*, session: Session, since: datetime, limit: int) -> list[HotspotRecord]:
    """Hotspots whose latest item came after `since`, the latest first."""
    stmt = (
        select(HotspotRecord)
        .where(HotspotRecord.last_at >= since)
        .order_by(HotspotRecord.last_at.desc())
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())
