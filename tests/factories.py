"""Builders of valid events for tests."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from feedbackloop.events import (
    Channel,
    CoUnit,
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    Priority,
    RoutingMethod,
    new_event,
)


def fresh_phone() -> str:
    """A mobile number no other test calls from: one caller's items would be linked as
    repeats (重复来电) of each other."""
    return f"139{secrets.randbelow(10**8):08d}"


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
    method: RoutingMethod = RoutingMethod.RULE,
    assigned_by: str | None = None,
    minute: int = 0,
    duplicate_of: str | None = None,
    co_handlers: list[CoUnit] | None = None,
) -> Envelope[FeedbackRouted]:
    """A FeedbackRouted event for an item."""
    item = item or received()
    data = FeedbackRouted(
        feedback=item.data,
        department_code=department,
        department_name="市城市管理局",
        method=method,
        confidence=1.0 if method is not RoutingMethod.TRIAGE else 0.4,
        priority=priority,
        rule="市容与环卫" if method is RoutingMethod.RULE else None,
        routed_at=datetime(2026, 11, 22, 2, minute, 1, tzinfo=UTC),
        assigned_by=assigned_by,
        duplicate_of=duplicate_of,
        co_handlers=co_handlers or [],
    )
    return new_event(data=data, source="/router", subject=item.data.ticket_id)


@dataclass(frozen=True)
class KafkaRecord:
    """A consumed record, as the batch loop hands it to an agent."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def records(
    *values: bytes | None, topic: str = "feedback.received", partition: int = 0, first: int = 0
) -> list[KafkaRecord]:
    """Consumed records of the given values, at consecutive offsets of one partition."""
    return [KafkaRecord(topic, partition, first + n, b"k", value) for n, value in enumerate(values)]
