"""Builders of valid events for tests."""

import uuid
from datetime import UTC, datetime

from feedbackloop.events import (
    Channel,
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    Priority,
    RoutingMethod,
    new_event,
)


def received(text: str = "路灯坏了一个月了", **fields: object) -> Envelope[FeedbackReceived]:
    """A FeedbackReceived event as intake would publish it."""
    ticket_id = str(uuid.uuid4())
    data = {
        "ticket_id": ticket_id,
        "ticket_no": "2611221000014",
        "channel": Channel.WEB,
        "received_at": datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
        "text": text,
    }
    data.update(fields)
    return new_event(data=FeedbackReceived(**data), source="/intake", subject=ticket_id)  # type: ignore[arg-type]


def routed(
    item: Envelope[FeedbackReceived] | None = None,
    *,
    department: str = "urban",
    priority: Priority = Priority.NORMAL,
) -> Envelope[FeedbackRouted]:
    """A FeedbackRouted event for an item."""
    item = item or received()
    data = FeedbackRouted(
        feedback=item.data,
        department_code=department,
        department_name="市城市管理局",
        method=RoutingMethod.RULE,
        confidence=1.0,
        priority=priority,
        rule="市容与环卫",
        routed_at=datetime(2026, 11, 22, 2, 0, 1, tzinfo=UTC),
    )
    return new_event(data=data, source="/router", subject=item.data.ticket_id)
