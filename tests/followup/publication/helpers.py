"""Tickets on a followup under test, with or without the citizen's consent to publication."""

import itertools
from datetime import UTC, datetime

from sqlalchemy import select

from feedbackloop.events import Contact, Location, TicketEvent, decode
from services.followup.models import OutboxMessage
from tests import factories
from tests.followup.conftest import Desk

API = "/api/v1/workbench"
_numbers = itertools.count(1)


def file(
    desk: Desk,
    text: str = "幸福小区门口路灯坏了一个月",
    *,
    consent: bool = True,
    district: str | None = "芙蓉区",
    title: str | None = None,
) -> str:
    """Route a new item; its ticket number."""
    number = f"26120410{next(_numbers):05d}"
    item = factories.received(
        text,
        received_at=datetime.now(UTC),
        ticket_no=number,
        title=title,
        contact=Contact(phone_masked="138****5678", publication_consent=consent),
        location=Location(district=district, lat=28.1949871, lng=112.9823456) if district else None,
    )
    desk.route(factories.routed(item))
    return number


def resolve(desk: Desk, number: str, reply: str = "已更换路灯灯泡，恢复照明") -> None:
    """The unit accepts and resolves the ticket."""
    urban = desk.headers["urban"]
    assert desk.client.post(f"{API}/tickets/{number}/accept", headers=urban).is_success
    done = desk.client.post(f"{API}/tickets/{number}/resolve", headers=urban, json={"text": reply})
    assert done.status_code == 200, done.text


def events_of(desk: Desk, number: str, *kinds: str) -> list[TicketEvent]:
    """The ticket's events in the outbox, oldest first, of the given kinds."""
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        found = [decode(row.payload).data for row in rows if row.topic == "ticket.events"]
    return [
        e
        for e in found
        if isinstance(e, TicketEvent) and e.ticket_no == number and e.kind.value in kinds
    ]
