"""A simulated day of tickets as events, with the 三率 computed straight from the tickets.

The rates here follow the formulas of docs/metrics.md written out independently of the
metrics service, so comparing the two checks the service, not a copy of it.
"""

import functools
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from feedbackloop.events import (
    Channel,
    DeadLetter,
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    HotspotDetected,
    Priority,
    RequestType,
    RoutingMethod,
    SurgeDetected,
    SurgeDimension,
    TicketEvent,
    TicketEventKind,
    TicketState,
    new_event,
)
from feedbackloop.events.topics import (
    DEAD_LETTER,
    FEEDBACK_HOTSPOTS,
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
)

DEPARTMENTS = {"water": "市水务局", "urban": "市城市管理局", "education": "市教育局"}
K, S = TicketEventKind, TicketState


@dataclass
class Day:
    """The events of the day (topic, event) and the rates they should give."""

    events: list[tuple[str, Envelope[Any]]] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    response_rate: dict[str, float] = field(default_factory=dict)
    resolution_rate: dict[str, float] = field(default_factory=dict)
    satisfaction_rate: dict[str, float] = field(default_factory=dict)


def simulate(*, tickets: int, seed: int) -> Day:
    """A day of `tickets` items, reproducible from `seed`."""
    rng = random.Random(seed)
    day = Day()
    start = datetime.now(UTC) - timedelta(hours=24)
    due_in_time, came_due = defaultdict(int), defaultdict(int)
    answered, solved, satisfied = defaultdict(int), defaultdict(int), defaultdict(int)
    for n in range(tickets):
        department = rng.choice(list(DEPARTMENTS))
        channel = rng.choice([Channel.HOTLINE, Channel.WECHAT, Channel.WEB])
        ticket_id = str(uuid.UUID(int=rng.getrandbits(128)))
        received_at = start + timedelta(minutes=rng.uniform(0, 600))
        item = FeedbackReceived(
            ticket_id=ticket_id,
            ticket_no=f"26112350{n:05d}",
            channel=channel,
            received_at=received_at,
            text=f"模拟诉求{n}",
        )
        day.received[channel.value] += 1
        day.events.append((FEEDBACK_RECEIVED, _event(item, ticket_id, "/intake")))
        if rng.random() < 0.1:
            day.events.append((FEEDBACK_ROUTED, _routed(item, "dispatch", RoutingMethod.TRIAGE, 1)))
            method = RoutingMethod.MANUAL
        else:
            method = rng.choice([RoutingMethod.MODEL, RoutingMethod.RULE])
        day.events.append((FEEDBACK_ROUTED, _routed(item, department, method, 2)))

        ticket = functools.partial(_add_ticket, day, item, department)

        ticket(K.OPENED, S.ROUTED, 0.01)
        fate = rng.random()
        if fate < 0.1:
            continue  # still waiting, nothing due yet
        late = rng.random() < 0.2
        if late:
            ticket(K.WARNED, S.ROUTED, 3, clock="response")
            ticket(K.BREACHED, S.ROUTED, 4, clock="response")
            came_due[department] += 1
        if fate < 0.15:
            continue  # breached and still not accepted
        ticket(K.ACCEPTED, S.ACCEPTED, 5 if late else rng.uniform(0.1, 3.5))
        if not late:
            came_due[department] += 1
            due_in_time[department] += 1
        if fate < 0.3:
            continue  # being worked on
        ticket(K.RESOLVED, S.RESOLVED, rng.uniform(6, 200))
        if rng.random() < 0.15:
            ticket(K.NO_RESPONSE, S.RESOLVED, 220, satisfaction="no_response")
            ticket(K.CLOSED, S.CLOSED, 220)
            continue
        answer = rng.choice(["solved", "solved", "partly", "not"])
        rating = rng.choice(["satisfied", "satisfied", "basically", "dissatisfied"])
        ticket(K.SURVEYED, S.SURVEYED, 210, solved=answer, satisfaction=rating)
        answered[department] += 1
        solved[department] += answer in ("solved", "partly")
        satisfied[department] += rating in ("satisfied", "basically")
        ticket(K.CLOSED, S.CLOSED, 210)
    for department in DEPARTMENTS:
        if came_due[department]:
            day.response_rate[department] = due_in_time[department] / came_due[department]
        if answered[department]:
            day.resolution_rate[department] = solved[department] / answered[department]
            day.satisfaction_rate[department] = satisfied[department] / answered[department]
    _consultations(day, random.Random(seed + 1), start)
    hotspot = HotspotDetected(
        place="幸福小区",
        category="城乡建设",
        ticket_nos=["2611235000001"],
        window_hours=24,
        first_at=start,
        last_at=start + timedelta(hours=2),
    )
    day.events.append((FEEDBACK_HOTSPOTS, _event(hotspot, "hotspot:幸福小区", "/router")))
    surge = SurgeDetected(
        dimension=SurgeDimension.PLACE,
        key="幸福小区",
        count=6,
        expected=0.2,
        heated_share=0.5,
        ticket_nos=[f"26112350{n:05d}" for n in range(6)],
        first_at=start,
        last_at=start + timedelta(minutes=40),
        trend=[0] * 23 + [6],
        baseline=[0.2] * 24,
    )
    day.events.append((FEEDBACK_HOTSPOTS, _event(surge, "surge:place:幸福小区", "/signals")))
    letter = DeadLetter(
        consumer="router",
        topic=FEEDBACK_RECEIVED,
        partition=0,
        offset=0,
        value="{",
        error="invalid JSON",
        failed_at=start,
    )
    day.events.append((DEAD_LETTER, _event(letter, "dlq", "/router")))
    return day


def _consultations(day: Day, rng: random.Random, start: datetime) -> None:
    """Consultations (咨询), most answered on the spot from the knowledge base (直接答复):
    closed at once, in no unit's 三率."""
    for n in range(8):
        channel = rng.choice([Channel.HOTLINE, Channel.WECHAT])
        ticket_id = str(uuid.UUID(int=rng.getrandbits(128)))
        item = FeedbackReceived(
            ticket_id=ticket_id,
            ticket_no=f"26112359{n:05d}",
            channel=channel,
            received_at=start + timedelta(minutes=rng.uniform(0, 600)),
            text=f"模拟咨询{n}：请问停水期间去哪里取水？",
            request_type=RequestType.CONSULTATION,
        )
        day.received[channel.value] += 1
        day.events.append((FEEDBACK_RECEIVED, _event(item, ticket_id, "/intake")))
        if n % 4 == 3:
            continue  # filed for a unit: routed and worked like any other item later
        day.events.append((FEEDBACK_ROUTED, _routed(item, "water", RoutingMethod.RULE, 0.1)))
        answered = functools.partial(_add_ticket, day, item, "water")
        answered(K.ANSWERED_DIRECTLY, S.RESOLVED, 0, article_id=1)
        answered(K.CLOSED, S.CLOSED, 0)


def _add_ticket(
    day: Day,
    item: FeedbackReceived,
    department: str,
    kind: TicketEventKind,
    state: TicketState,
    hours: float,
    **extra: Any,
) -> None:
    data = TicketEvent(
        ticket_id=item.ticket_id,
        ticket_no=item.ticket_no,
        kind=kind,
        state_to=state,
        department_code=department,
        department_name=DEPARTMENTS[department],
        priority=Priority.NORMAL,
        actor="system",
        received_at=item.received_at,
        occurred_at=item.received_at + timedelta(hours=hours),
        due_at=item.received_at + timedelta(days=7),
        channel=item.channel.value,
        **extra,
    )
    day.events.append((TICKET_EVENTS, _event(data, item.ticket_id, "/followup")))


def _event(data: Any, subject: str, source: str) -> Envelope[Any]:
    return new_event(data=data, source=source, subject=subject)


def _routed(
    item: FeedbackReceived, department: str, method: RoutingMethod, minutes: float
) -> Envelope[FeedbackRouted]:
    data = FeedbackRouted(
        feedback=item,
        department_code=department,
        department_name=DEPARTMENTS.get(department, "12345派单中心"),
        method=method,
        confidence=0.9,
        priority=Priority.NORMAL,
        routed_at=item.received_at + timedelta(minutes=minutes),
    )
    return _event(data, item.ticket_id, "/router")
