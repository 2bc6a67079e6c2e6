"""The router's agents, run by `feedbackloop.runtime.batches.BatchLoop`.

- `RouteAgent`: FeedbackReceived in; FeedbackRouted on feedback.routed and on the
  department's queue.<dept>, poison on feedback.dlq.
- `ReturnsAgent`: a department's return (退单) on ticket.events in; the item re-routed.
- `HotspotsAgent`: the signals worker's alerts on feedback.hotspots in; remembered for the
  operators' console and API.
"""

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    HotspotDetected,
    InvalidEvent,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    decode,
    encode,
)
from feedbackloop.events.envelope import Envelope
from feedbackloop.events.topics import FEEDBACK_ROUTED, queue_topic
from feedbackloop.runtime.batches import Record, dead_letter_output
from feedbackloop.runtime.producer import Output, Publish, delivered
from services.router import flows, service
from services.router.batch import Prepared, Routed, decide_batch, prepare_batch
from services.router.hotspots import Detector
from services.router.metrics import RouterMetrics
from services.router.rules import Classifier, RuleTable

log = logging.getLogger(__name__)

CONSUMER = "router"


class RouteAgent:
    """Routes batches of received items and says what to publish for them."""

    def __init__(
        self,
        *,
        table: RuleTable,
        classifier: Classifier,
        threshold: float,
        metrics: RouterMetrics,
        sessions: sessionmaker[Session] | None = None,
        detector: Detector | None = None,
    ) -> None:
        self.table = table
        self.classifier = classifier
        self.threshold = threshold
        self.metrics = metrics
        self.sessions = sessions
        self.detector = detector

    def prepare(self, records: list[Record]) -> tuple[list[Record], Prepared]:
        """Decode, classify and decide a batch (in a worker thread)."""
        raws = [record.value for record in records]
        fingerprint = self.detector is not None
        prepared = prepare_batch(
            table=self.table,
            classifier=self.classifier,
            threshold=self.threshold,
            raws=raws,
            fingerprint=fingerprint,
        )
        return records, prepared

    async def handle(self, prepared: tuple[list[Record], Prepared]) -> list[Output]:
        """Decide, remember and say what to publish, for a prepared batch."""
        records, batch = prepared
        outcomes = decide_batch(prepared=batch, detector=self.detector)
        if self.sessions is None:
            return self.outputs(records, outcomes, set())
        places = [(record.partition, record.offset) for record in records]
        # Stored before anything is published: a redelivery after a crash finds the items
        # remembered and queued. The records are encoded meanwhile (the store's thread
        # spends much of its time in SQLite, which lets go of the GIL).
        storing = asyncio.ensure_future(
            asyncio.to_thread(remember, self.sessions, outcomes, places)
        )
        try:
            per_item = self.encode(records, outcomes)
        finally:
            copies = await storing
        return self.select(per_item, outcomes, copies)

    def outputs(
        self, records: list[Record], outcomes: list[Routed], copies: set[int]
    ) -> list[Output]:
        """The records a batch's outcomes publish; copies publish nothing."""
        return self.select(self.encode(records, outcomes), outcomes, copies)

    def encode(self, records: list[Record], outcomes: list[Routed]) -> list[list[Output]]:
        """Each item's records: its routing on feedback.routed and on the department's
        queue, or its dead letter."""
        per_item: list[list[Output]] = []
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome.routed is None:
                reason = outcome.error or "unknown error"
                per_item.append(
                    [dead_letter_output(consumer=CONSUMER, record=record, reason=reason)]
                )
                continue
            event = outcome.routed
            wire = encode(event)
            queue = queue_topic(event.data.department_code)
            per_item.append(
                [Output(FEEDBACK_ROUTED, event.subject, wire), Output(queue, event.subject, wire)]
            )
        return per_item

    def select(
        self, per_item: list[list[Output]], outcomes: list[Routed], copies: set[int]
    ) -> list[Output]:
        """The records to publish, copies left out, and the counts that go with them."""
        outputs: list[Output] = []
        routed: Counter[tuple[str, str]] = Counter()
        dead = 0
        for position, (item, outcome) in enumerate(zip(per_item, outcomes, strict=True)):
            if position in copies:
                continue
            outputs += item
            if outcome.routed is None:
                dead += 1
                continue
            decision = outcome.routed.data
            routed[decision.department_code, decision.method.value] += 1
        for (department, method), count in routed.items():
            self.metrics.routed.labels(department=department, method=method).inc(count)
        if dead:
            self.metrics.dead_letters.inc(dead)
        if copies:
            self.metrics.copies_dropped.inc(len(copies))
        return outputs


class ReturnsAgent:
    """Re-routes items that a department returned (退单) to the next department."""

    def __init__(
        self,
        *,
        table: RuleTable,
        threshold: float,
        publish: Publish,
        sessions: sessionmaker[Session],
    ) -> None:
        self.table = table
        self.threshold = threshold
        self.publish = publish
        self.sessions = sessions

    def prepare(self, records: list[Record]) -> list[Envelope[TicketEvent]]:
        """The returns among a batch of ticket events (in a worker thread)."""
        returns = []
        for record in records:
            try:
                event = decode(record.value, expect=TicketEvent)
            except InvalidEvent:
                continue  # followup dead-letters its own bad output; nothing to route here
            if event.data.kind is TicketEventKind.RETURNED:
                returns.append(event)
        return returns

    async def handle(self, returns: list[Envelope[TicketEvent]]) -> list[Output]:
        """Re-route each return; publishes itself, as each record must be stored after."""
        for returned in returns:
            plan = await asyncio.to_thread(
                flows.plan_return,
                sessions=self.sessions,
                table=self.table,
                threshold=self.threshold,
                returned=returned,
            )
            if plan is None:
                continue
            wire = encode(plan.routed)
            code = plan.routed.data.department_code
            # Published before the record is updated: after a crash in between, the same
            # plan (and event id) is made again and consumers drop the copy.
            await delivered(
                [
                    await self.publish(FEEDBACK_ROUTED, plan.routed.subject, wire),
                    await self.publish(queue_topic(code), plan.routed.subject, wire),
                ]
            )
            await asyncio.to_thread(flows.commit_return, sessions=self.sessions, plan=plan)
        return []


class HotspotsAgent:
    """Remembers the hotspots the signals worker detects, for the console and the API."""

    def __init__(self, *, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def prepare(self, records: list[Record]) -> list[Envelope[HotspotDetected]]:
        """The alerts among a batch of records (in a worker thread)."""
        found = []
        for record in records:
            try:
                found.append(decode(record.value, expect=HotspotDetected))
            except InvalidEvent:
                continue  # the signals worker's output; nothing of the router's to park
        return found

    async def handle(self, hotspots: list[Envelope[HotspotDetected]]) -> list[Output]:
        """Store the alerts (one already stored, a redelivery, is kept as it is)."""
        if hotspots:
            await asyncio.to_thread(_remember_hotspots, self.sessions, hotspots)
        return []


def _remember_hotspots(
    sessions: sessionmaker[Session], hotspots: list[Envelope[HotspotDetected]]
) -> None:
    try:
        with sessions.begin() as session:
            service.create_hotspots(session=session, hotspots=hotspots)
    except (IntegrityError, OperationalError):
        # Another replica stored the same alert in between (a partition moving): known now.
        with sessions.begin() as session:
            service.create_hotspots(session=session, hotspots=hotspots)


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
    """Store a batch's deliveries, routing records and triage items in one transaction.

    Returns the positions of copies (items already routed from another offset), which are
    not published again.
    """
    now = datetime.now(UTC)
    decoded = [i for i, o in enumerate(outcomes) if o.received is not None]
    with sessions.begin() as session:
        copies = service.create_deliveries(
            session=session,
            deliveries=[(_ticket_id(outcomes[i]), *places[i]) for i in decoded],
        )
        # create_deliveries numbers only the decoded items; map back to batch positions.
        copies = {decoded[c] for c in copies}
        routed = [o for i, o in enumerate(outcomes) if i not in copies and o.routed is not None]
        service.create_routing_records(
            session=session,
            records=[
                (
                    o.routed.data.feedback.ticket_id,
                    o.raw,
                    o.ranking or [],
                    o.routed.data.department_code,
                )
                for o in routed
                if o.raw is not None and o.routed is not None
            ],
            now=now,
        )
        service.create_triage_items(
            session=session,
            items=[
                (
                    o.routed.data.feedback.ticket_id,
                    o.routed.data.feedback.ticket_no,
                    o.raw,
                    o.routed.data.candidates,
                    o.routed.data.priority.value,
                )
                for o in routed
                if o.raw is not None
                and o.routed is not None
                and o.routed.data.method is RoutingMethod.TRIAGE
            ],
            now=now,
        )
    return copies


def _ticket_id(outcome: Routed) -> str:
    assert outcome.received is not None
    return outcome.received.data.ticket_id
