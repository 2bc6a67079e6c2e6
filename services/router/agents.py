"""The routing agent: FeedbackReceived in, FeedbackRouted and a queue item out."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import faust
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    InvalidEvent,
    RoutingMethod,
    decode,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_ROUTED, queue_topic
from services.router import service
from services.router.metrics import RouterMetrics
from services.router.rules import Classifier, RuleTable, decide

log = logging.getLogger(__name__)

SOURCE = "/router"

#: Sends one record: (topic, key, value).
Publish = Callable[[str, str, bytes], Awaitable[Any]]


def route_one(
    *, table: RuleTable, classifier: Classifier, threshold: float, raw: bytes
) -> tuple[Envelope[FeedbackReceived], Envelope[FeedbackRouted]]:
    """Decide one raw FeedbackReceived event; return it and the routed event."""
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
    return received, event


def register(
    app: faust.App,
    *,
    source: faust.TopicT,
    table: RuleTable,
    classifier: Classifier,
    threshold: float,
    publish: Publish,
    metrics: RouterMetrics,
    sessions: sessionmaker[Session] | None = None,
) -> Any:
    """Attach the routing agent to a faust app and return it."""

    @app.agent(source, name="route")
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            raw, key = event.value, event.key
            try:
                received, routed = route_one(
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
            decision = routed.data
            if decision.method is RoutingMethod.TRIAGE and sessions is not None:
                # Stored before the offset is committed; a redelivery finds it queued already.
                await asyncio.to_thread(_queue_for_operator, sessions, received, decision)
            wire = encode(routed)
            await publish(FEEDBACK_ROUTED, routed.subject, wire)
            await publish(queue_topic(decision.department_code), routed.subject, wire)
            metrics.routed.labels(
                department=decision.department_code, method=decision.method.value
            ).inc()

    return route


def _queue_for_operator(
    sessions: sessionmaker[Session], received: Envelope[FeedbackReceived], decision: FeedbackRouted
) -> None:
    with sessions.begin() as session:
        service.create_triage_item(
            session=session,
            received=received,
            candidates=decision.candidates,
            priority=decision.priority.value,
            now=datetime.now(UTC),
        )
