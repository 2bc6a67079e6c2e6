"""The routing agent: FeedbackReceived in, FeedbackRouted and a queue item out."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import faust

from feedbackloop.events import (
    FeedbackReceived,
    FeedbackRouted,
    InvalidEvent,
    decode,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_ROUTED, queue_topic
from services.router.metrics import RouterMetrics
from services.router.rules import Classifier, RuleTable, decide

log = logging.getLogger(__name__)

SOURCE = "/router"

#: Sends one record: (topic, key, value).
Publish = Callable[[str, str, bytes], Awaitable[Any]]


def route_one(
    *, table: RuleTable, classifier: Classifier, threshold: float, raw: bytes
) -> tuple[str, bytes]:
    """Decide one raw FeedbackReceived event; return the ticket id and the routed event."""
    received = decode(raw, expect=FeedbackReceived)
    item: FeedbackReceived = received.data
    decision = decide(table=table, item=item, classifier=classifier, threshold=threshold)
    routed = FeedbackRouted(
        feedback=item,
        department_code=decision.department_code,
        department_name=decision.department_name,
        method=decision.method,
        confidence=decision.confidence,
        priority=decision.priority,
        rule=decision.rule,
        category=decision.category,
        candidates=decision.candidates,
        routed_at=datetime.now(UTC),
    )
    # Derived id: if this item is processed again after a crash, consumers see the same
    # event id and drop the copy.
    event = new_event(
        data=routed,
        source=SOURCE,
        subject=item.ticket_id,
        event_id=deterministic_event_id(received.id, "routed"),
    )
    return item.ticket_id, encode(event)


def register(
    app: faust.App,
    *,
    source: faust.TopicT,
    table: RuleTable,
    classifier: Classifier,
    threshold: float,
    publish: Publish,
    metrics: RouterMetrics,
) -> Any:
    """Attach the routing agent to a faust app and return it."""

    @app.agent(source, name="route")
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            raw, key = event.value, event.key
            try:
                ticket_id, routed = route_one(
                    table=table, classifier=classifier, threshold=threshold, raw=raw
                )
            except Exception as exc:  # a poison message must never stop the agent
                reason = (
                    str(exc) if isinstance(exc, InvalidEvent) else f"{type(exc).__name__}: {exc}"
                )
                log.warning("dead-lettering %s: %s", event.message.tp, reason)
                message = event.message
                letter_key, letter = dead_letter(
                    consumer="router",
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=key,
                    value=raw,
                    error=reason,
                )
                await publish(DEAD_LETTER, letter_key, letter)
                metrics.dead_letters.inc()
                continue
            decoded = decode(routed, expect=FeedbackRouted).data
            await publish(FEEDBACK_ROUTED, ticket_id, routed)
            await publish(queue_topic(decoded.department_code), ticket_id, routed)
            metrics.routed.labels(
                department=decoded.department_code, method=decoded.method.value
            ).inc()

    return route
