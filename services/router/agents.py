"""The routing agent: FeedbackReceived in, FeedbackRouted and a queue item out."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    HotspotDetected,
    InvalidEvent,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    decode,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.topics import (
    FEEDBACK_HOTSPOTS,
    FEEDBACK_ROUTED,
    queue_topic,
)
from feedbackloop.runtime.streams import Publish, commit_processed, delivered, publish_dead_letter
from services.router import flows, service
from services.router.hotspots import Detector, Hotspot, Observation, fingerprints_of
from services.router.metrics import RouterMetrics
from services.router.rules import Classifier, RuleTable, decide, text_of

log = logging.getLogger(__name__)

SOURCE = "/router"


@dataclass(frozen=True)
class Routed:
    """One item's outcome: the event it came in and the routing event, or why it failed."""

    raw: bytes | None
    received: Envelope[FeedbackReceived] | None = None
    routed: Envelope[FeedbackRouted] | None = None
    hotspot: Envelope[HotspotDetected] | None = None
    ranking: list[tuple[str, float]] | None = None
    error: str | None = None


def route_batch(
    *,
    table: RuleTable,
    classifier: Classifier,
    threshold: float,
    raws: list[bytes | None],
    detector: Detector | None = None,
) -> list[Routed]:
    """Decide a batch of raw FeedbackReceived events, classifying all their texts at once.

    The model costs about 4 ms for one text but 1 ms a text in batches of hundreds, which is
    what lets one router keep up with a burst.
    """
    outcomes: list[Routed] = []
    good: list[tuple[int, Envelope[FeedbackReceived]]] = []
    for raw in raws:
        try:
            good.append((len(outcomes), decode(raw, expect=FeedbackReceived)))
            outcomes.append(Routed(raw=raw))
        except InvalidEvent as exc:
            outcomes.append(Routed(raw=raw, error=str(exc)))
    texts = [text_of(received.data) for _, received in good]
    try:
        # The whole ranking is kept: a returned item goes to the next department on it.
        rankings = classifier.rank(texts, 20)
    except Exception as exc:  # a model failure parks the batch, it does not stop routing
        reason = f"model failed: {type(exc).__name__}: {exc}"
        for index, _ in good:
            outcomes[index] = Routed(raw=outcomes[index].raw, error=reason)
        return outcomes
    fingerprints = fingerprints_of(texts) if detector is not None else None
    now = datetime.now(UTC)
    for position, ((index, received), ranked) in enumerate(zip(good, rankings, strict=True)):
        item = received.data
        decision = decide(table=table, item=item, ranked=ranked, threshold=threshold)
        seen = (
            detector.observe(
                ticket_id=item.ticket_id,
                ticket_no=item.ticket_no,
                text=texts[position],
                category=decision.category,
                at=item.received_at,
                fingerprint=fingerprints[position],
            )
            if detector is not None and fingerprints is not None
            else Observation()
        )
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
            routed_at=now,
            duplicate_of=seen.duplicate_of,
        )
        # Derived id: if this item is processed again after a crash, consumers see the same
        # event id and drop the copy.
        event = new_event(
            data=routed,
            source=SOURCE,
            subject=item.ticket_id,
            event_id=deterministic_event_id(received.id, "routed"),
        )
        outcomes[index] = Routed(
            raw=outcomes[index].raw,
            received=received,
            routed=event,
            ranking=ranked,
            hotspot=_hotspot_event(seen.hotspot, detector) if seen.hotspot and detector else None,
        )
    return outcomes


def _hotspot_event(spot: Hotspot, detector: Detector) -> Envelope[HotspotDetected]:
    data = HotspotDetected(
        place=spot.place,
        category=spot.category,
        ticket_nos=list(spot.ticket_nos),
        window_hours=detector.hotspot_window.total_seconds() / 3600,
        first_at=spot.first_at,
        last_at=spot.last_at,
    )
    return new_event(
        data=data,
        source=SOURCE,
        subject=f"hotspot:{spot.place}",
        event_id=deterministic_event_id(spot.ticket_nos[-1], "hotspot"),
    )


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
    detector: Detector | None = None,
    batch_size: int = 500,
) -> Any:
    """Attach the routing agent to a faust app and return it."""

    @app.agent(source, name="route")
    async def route(stream: faust.StreamT) -> None:
        batches = stream.take_events(batch_size, within=0.02)  # type: ignore[attr-defined]
        async for events in batches:
            outcomes = route_batch(
                table=table,
                classifier=classifier,
                threshold=threshold,
                raws=[event.value for event in events],
                detector=detector,
            )
            copies: set[int] = set()
            if sessions is not None:
                places = [(e.message.partition, e.message.offset) for e in events]
                copies = await asyncio.to_thread(remember, sessions, outcomes, places)
            receipts = []
            for position, (event, outcome) in enumerate(zip(events, outcomes, strict=True)):
                if position in copies:
                    metrics.copies_dropped.inc()
                    continue
                if outcome.routed is None or outcome.received is None:
                    await publish_dead_letter(
                        publish,
                        consumer="router",
                        event=event,
                        reason=outcome.error or "unknown error",
                    )
                    metrics.dead_letters.inc()
                    continue
                decision = outcome.routed.data
                wire = encode(outcome.routed)
                receipts.append(await publish(FEEDBACK_ROUTED, outcome.routed.subject, wire))
                receipts.append(
                    await publish(
                        queue_topic(decision.department_code), outcome.routed.subject, wire
                    )
                )
                metrics.routed.labels(
                    department=decision.department_code, method=decision.method.value
                ).inc()
                if outcome.hotspot is not None:
                    log.warning("hotspot: %s", outcome.hotspot.data.place)
                    receipts.append(
                        await publish(
                            FEEDBACK_HOTSPOTS, outcome.hotspot.subject, encode(outcome.hotspot)
                        )
                    )
            await commit_processed(app, stream, events, receipts)

    return route


def remember(
    sessions: sessionmaker[Session], outcomes: list[Routed], places: list[tuple[int, int]]
) -> set[int]:
    """`_remember`, looked up and stored again if another replica stored some of the same
    items in between (a partition moving during a rebalance): then they are known."""
    try:
        return _remember(sessions, outcomes, places)
    except (IntegrityError, OperationalError) as exc:
        # PostgreSQL reports the rows as duplicate keys; SQLite refuses a write on a snapshot
        # that another connection's commit has made stale. Either way, looked up again now,
        # the other replica's rows are known.
        log.info("another router stored part of this batch first (%s); storing it again", exc)
        return _remember(sessions, outcomes, places)


def _remember(
    sessions: sessionmaker[Session], outcomes: list[Routed], places: list[tuple[int, int]]
) -> set[int]:
    """Store a batch's deliveries, routing records, triage items and hotspots in one
    transaction.

    Returns the positions of copies (items already routed from another offset), which are
    not published again. It runs before the batch's records are published, so a
    redelivery after a crash finds the items remembered and queued.
    """
    now = datetime.now(UTC)
    with sessions.begin() as session:
        copies = service.create_deliveries(
            session=session,
            deliveries=[
                (o.received.data.ticket_id, *place)
                for o, place in zip(outcomes, places, strict=True)
                if o.received is not None
            ],
        )
        # create_deliveries numbers only the decoded items; map back to batch positions.
        decoded = [i for i, o in enumerate(outcomes) if o.received is not None]
        copies = {decoded[c] for c in copies}
        routed = [
            o for i, o in enumerate(outcomes)
            if i not in copies and o.raw is not None and o.received and o.routed
        ]  # fmt: skip
        service.create_routing_records(
            session=session,
            records=[
                (o.routed.data.feedback.ticket_id, o.raw, o.ranking or [],
                 o.routed.data.department_code)
                for o in routed
                if o.raw is not None and o.routed is not None
            ],
            now=now,
        )  # fmt: skip
        service.create_triage_items(
            session=session,
            items=[
                (o.received, o.routed.data.candidates, o.routed.data.priority.value)
                for o in routed
                if o.received is not None and o.routed is not None
                and o.routed.data.method is RoutingMethod.TRIAGE
            ],
            now=now,
        )  # fmt: skip
        service.create_hotspots(
            session=session, hotspots=[o.hotspot for o in routed if o.hotspot is not None]
        )
    return copies


def register_returns(
    app: faust.App,
    *,
    source: faust.TopicT,
    table: RuleTable,
    threshold: float,
    publish: Publish,
    sessions: sessionmaker[Session],
) -> Any:
    """Attach the agent that re-routes items a department returned (退单)."""

    @app.agent(source, name="returns")
    async def returns(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                returned = decode(event.value, expect=TicketEvent)
            except InvalidEvent:
                continue  # followup dead-letters its own bad output; nothing to route here
            if returned.data.kind is not TicketEventKind.RETURNED:
                continue
            plan = await asyncio.to_thread(
                flows.plan_return, sessions=sessions, table=table, threshold=threshold,
                returned=returned,
            )  # fmt: skip
            if plan is None:
                continue
            wire = encode(plan.routed)
            # Published before the record is updated: after a crash in between, the same
            # plan (and event id) is made again and consumers drop the copy.
            receipts = [
                await publish(FEEDBACK_ROUTED, plan.routed.subject, wire),
                await publish(
                    queue_topic(plan.routed.data.department_code), plan.routed.subject, wire
                ),
            ]
            await delivered(receipts)
            await asyncio.to_thread(flows.commit_return, sessions=sessions, plan=plan)
            await commit_processed(app, stream, [event], [])

    return returns
