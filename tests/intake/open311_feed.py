"""Ticket events for intake's read model in unit tests, as the ticket.events follower applies
them, and the public records followup would publish."""

import uuid
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from feedbackloop.events import (
    FeedbackReceived,
    Priority,
    Publication,
    TicketEvent,
    TicketEventKind,
    TicketState,
    decode,
    new_event,
)
from services.intake import read_model
from tests.intake.test_api import outbox

KINDS = {
    TicketState.ROUTED: TicketEventKind.OPENED,
    TicketState.ACCEPTED: TicketEventKind.ACCEPTED,
    TicketState.RESOLVED: TicketEventKind.RESOLVED,
    TicketState.CLOSED: TicketEventKind.CLOSED,
    TicketState.REOPENED: TicketEventKind.REOPENED,
}
REPLY = "经现场核查，幸福小区门口路灯已于12月3日更换灯具，恢复照明。"


def received_of(client: TestClient, ticket_no: str) -> FeedbackReceived:
    """The FeedbackReceived intake wrote for a ticket number."""
    for row in outbox(client):
        event = decode(row.payload, expect=FeedbackReceived).data
        if event.ticket_no == ticket_no:
            return event
    raise AssertionError(f"no FeedbackReceived for {ticket_no}")


def public_record(at: datetime, **fields: object) -> Publication:
    """A masked public record as followup publishes it."""
    values: dict[str, object] = {
        "title": "路灯不亮",
        "text": "某小区门口的路灯已经坏了一个月，晚上出行很不安全。",
        "reply": REPLY,
        "category": "城乡建设",
        "district": "岳麓区",
        "lat": 28.228,
        "lng": 112.939,
        "media_url": "https://img.example.org/public/lamp.jpg",
        "resolved_at": at,
    }
    return Publication.model_validate(values | fields)


def feed(
    client: TestClient,
    *,
    ticket_id: str,
    ticket_no: str,
    received_at: datetime,
    state: TicketState,
    at: datetime,
    kind: TicketEventKind | None = None,
    channel: str = "open311",
    publication: Publication | None = None,
    event_id: str | None = None,
) -> str:
    """Apply one ticket event to the app's read model; its event id."""
    data = TicketEvent(
        ticket_id=ticket_id,
        ticket_no=ticket_no,
        kind=kind or KINDS[state],
        state_to=state,
        department_code="urban",
        department_name="市城市管理局",
        priority=Priority.NORMAL,
        actor="system",
        due_at=received_at + timedelta(days=9),
        received_at=received_at,
        occurred_at=at,
        channel=channel,
        category="城乡建设",
        publication=publication,
    )
    event = new_event(
        data=data, source="/followup", subject=ticket_id, event_id=event_id or uuid.uuid4().hex
    )
    intake = client.app.state.intake  # type: ignore[attr-defined]
    with intake.sessions.begin() as session:
        read_model.apply_event(session, event)
    return event.id


def feed_posted(
    client: TestClient, ticket_no: str, state: TicketState, *, minutes: int, **fields: object
) -> str:
    """A ticket event for a request posted through Open311 in this test, `minutes` after it."""
    received = received_of(client, ticket_no)
    return feed(
        client,
        ticket_id=received.ticket_id,
        ticket_no=ticket_no,
        received_at=received.received_at,
        state=state,
        at=received.received_at + timedelta(minutes=minutes),
        **fields,  # type: ignore[arg-type]
    )
