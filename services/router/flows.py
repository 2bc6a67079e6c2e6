"""Multi-step actions of the router: an operator assigning a triaged item."""

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    CoUnit,
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    Priority,
    RoutingMethod,
    TicketEvent,
    decode,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.topics import FEEDBACK_ROUTED, queue_topic
from feedbackloop.runtime.producer import Publish, delivered
from services.router import service
from services.router.rules import RuleTable, candidates_for

log = logging.getLogger(__name__)


class AssignError(Exception):
    """An assignment that cannot be made; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Assigned:
    """The outcome of an assignment."""

    ticket_no: str
    department_code: str
    department_name: str


async def assign(
    *,
    sessions: sessionmaker[Session],
    table: RuleTable,
    publish: Publish,
    ticket_no: str,
    department_code: str,
    operator: str,
    co_department_codes: Sequence[str] = (),
) -> Assigned:
    """Route a triaged item to the department an operator chose, and learn from the choice.

    `co_department_codes` are co-handling units (协办) the operator names next to the lead.
    """
    if department_code not in table.departments:
        raise AssignError(422, f"没有编号为“{department_code}”的承办单位")
    co_codes = list(dict.fromkeys(c for c in co_department_codes if c != department_code))
    unknown = [code for code in co_codes if code not in table.departments]
    if unknown:
        raise AssignError(422, f"没有编号为“{unknown[0]}”的协办单位")
    with sessions() as session:
        item = service.get_triage_item(session=session, ticket_no=ticket_no)
        if item is None:
            raise AssignError(404, f"待分派队列里没有工单 {ticket_no}")
        if item.assigned_to is not None:
            raise _taken(sessions, ticket_no, table)
        received = decode(item.received_event, expect=FeedbackReceived)
        candidates = service.candidates_of(item)
        priority = Priority(item.priority)
    category = next(
        (c.category for c in candidates if c.department_code == department_code),
        next((cat for cat, code in table.categories.items() if code == department_code), None),
    )
    now = datetime.now(UTC)
    routed = FeedbackRouted(
        feedback=received.data,
        department_code=department_code,
        department_name=table.departments[department_code],
        method=RoutingMethod.MANUAL,
        confidence=1.0,
        category=category,
        priority=priority,
        candidates=candidates,
        routed_at=now,
        assigned_by=operator,
        co_handlers=[
            CoUnit(department_code=code, department_name=table.departments[code])
            for code in co_codes
        ],
    )
    event = new_event(
        data=routed,
        source="/router",
        subject=received.data.ticket_id,
        # The same choice made twice (a retried request) is one event downstream.
        event_id=deterministic_event_id(
            received.id, f"assign:{department_code}" + "".join(f"+{c}" for c in co_codes)
        ),
    )
    raw = encode(event)
    # The claim (a conditional UPDATE) and the publishing happen inside one transaction that
    # commits only once the broker has both records: a concurrent assignment of the item
    # waits for it and then finds the item taken (409); a failed send or a crash rolls the
    # claim back and leaves the item in the queue, and the operator's retry makes the same
    # event (same id) again. The store's calls run in threads: one waiting for the claim of
    # another request must not hold up the event loop that request is publishing on.
    session = sessions()
    try:
        claimed = await asyncio.to_thread(
            service.update_assigned,
            session=session,
            ticket_no=ticket_no,
            department_code=department_code,
            operator=operator,
            now=now,
        )
        if not claimed:
            await asyncio.to_thread(session.rollback)
            raise _taken(sessions, ticket_no, table)
        try:
            await delivered(
                [
                    await publish(FEEDBACK_ROUTED, received.data.ticket_id, raw),
                    # The lead's queue, and each co-unit's: all of them work the item.
                    *[
                        await publish(queue_topic(code), received.data.ticket_id, raw)
                        for code in [department_code, *co_codes]
                    ],
                ]
            )
        except (KafkaError, ConnectionError) as exc:
            log.warning("assigning %s failed: Kafka: %s", ticket_no, exc)
            raise AssignError(503, "派单通道暂时不可用，工单仍在待分派队列中，请稍后重试") from exc
        if category is not None:
            text = f"{received.data.title or ''}。{received.data.text}"
            service.create_correction(
                session=session,
                ticket_id=received.data.ticket_id,
                text=text,
                category=category,
                source="triage",
                now=now,
            )
        await asyncio.to_thread(session.commit)
    finally:
        await asyncio.to_thread(session.close)  # rolls back what was not committed
    return Assigned(ticket_no, department_code, table.departments[department_code])


def _taken(sessions: sessionmaker[Session], ticket_no: str, table: RuleTable) -> AssignError:
    """The 409 of an item another operator assigned first, saying who and where to."""
    with sessions() as session:
        item = service.get_triage_item(session=session, ticket_no=ticket_no)
        by, to = (item.assigned_by, item.assigned_to) if item else (None, None)
    name = table.departments.get(to or "", "")
    where = f"：已由 {by} 分派给 {to}（{name}）" if by and to else ""
    return AssignError(409, f"该工单已由其他接线员分派{where}，请刷新待分派队列")


MAX_RETURNS = 2


@dataclass(frozen=True)
class ReturnPlan:
    """Where a returned item goes next, and what to record once that is published."""

    routed: Envelope[FeedbackRouted]
    received: Envelope[FeedbackReceived]
    tried: list[str]
    returns: int


def plan_return(
    *,
    sessions: sessionmaker[Session],
    table: RuleTable,
    threshold: float,
    returned: Envelope[TicketEvent],
) -> ReturnPlan | None:
    """The best department not yet tried; the dispatch desk after 2 returns or none left."""
    event = returned.data
    with sessions() as session:
        record = service.get_routing_record(session=session, ticket_id=event.ticket_id)
        if record is None:
            return None  # not routed by this router's store (or from before it kept records)
        received = decode(record.received_event, expect=FeedbackReceived)
        ranking = [(str(c), float(p)) for c, p in json.loads(record.ranking)]
        tried = list(json.loads(record.tried))
        returns = record.returns + 1
    if event.department_code and event.department_code not in tried:
        tried.append(event.department_code)
    options = [c for c in candidates_for(table, ranking) if c.department_code not in tried]
    reason = event.reason or ""
    if returns >= MAX_RETURNS or not options:
        code, method, confidence = table.default_department, RoutingMethod.TRIAGE, 0.0
        category = options[0].category if options else None
    else:
        best = options[0]
        code, method = best.department_code, RoutingMethod.MODEL
        confidence, category = best.probability, best.category
    routed = FeedbackRouted(
        feedback=received.data,
        department_code=code,
        department_name=table.departments[code],
        method=method,
        confidence=confidence,
        category=category,
        priority=event.priority,
        rule=f"退单后重派（第{returns}次）：{reason}"[:200],
        candidates=options[:3],
        routed_at=datetime.now(UTC),
    )
    envelope = new_event(
        data=routed,
        source="/router",
        subject=event.ticket_id,
        event_id=deterministic_event_id(returned.id, "rerouted"),
    )
    return ReturnPlan(routed=envelope, received=received, tried=[*tried, code], returns=returns)


def commit_return(*, sessions: sessionmaker[Session], plan: ReturnPlan) -> None:
    """Record a return once its re-routing is published (and queue it for triage if so)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        record = service.get_routing_record(session=session, ticket_id=plan.received.data.ticket_id)
        if record is None or record.returns >= plan.returns:
            return  # already recorded (a redelivered return)
        service.update_returned(
            session=session, record=record, tried=plan.tried, returns=plan.returns, now=now
        )
        if plan.routed.data.method is RoutingMethod.TRIAGE:
            service.create_triage_item(
                session=session,
                received=plan.received,
                candidates=plan.routed.data.candidates,
                priority=plan.routed.data.priority.value,
                now=now,
            )
