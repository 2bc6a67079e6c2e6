"""The routing agents, fed consumed records directly (the batch loop is tested on its own)."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    DeadLetter,
    FeedbackRouted,
    Priority,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    TicketState,
    decode,
    encode,
    new_event,
)
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_HOTSPOTS, FEEDBACK_ROUTED
from feedbackloop.runtime.producer import Output
from feedbackloop.runtime.sql import create_store
from services.router import agents, service
from services.router.agents import ReturnsAgent, RouteAgent
from services.router.batch import route_batch
from services.router.config import DEFAULT_RULES
from services.router.hotspots import Detector
from services.router.metrics import RouterMetrics
from services.router.models import Base
from services.router.rules import load_rule_table
from tests import factories
from tests.router.test_rules import FixedClassifier


class Recorder:
    """Collects what an agent publishes by itself."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def __call__(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def topics(self) -> list[str]:
        return [topic for topic, _, _ in self.sent]


def route_agent(**options: Any) -> RouteAgent:
    options.setdefault("classifier", FixedClassifier(("教育文体", 0.9)))
    return RouteAgent(
        table=load_rule_table(DEFAULT_RULES), threshold=0.77, metrics=RouterMetrics(), **options
    )


def run(agent: Any, records: list[factories.KafkaRecord]) -> list[Output]:
    """One batch through an agent, as the loop runs it (prepare, then handle)."""
    return asyncio.run(agent.handle(agent.prepare(records)))  # type: ignore[no-any-return]


def topics(outputs: list[Output]) -> list[str]:
    return [output.topic for output in outputs]


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)


def test_an_item_is_routed_and_queued() -> None:
    item = factories.received("小区自来水管漏水，已经停水两天了")
    outputs = run(route_agent(), factories.records(encode(item)))
    assert topics(outputs) == [FEEDBACK_ROUTED, "queue.water"]
    routed = decode(outputs[0].value, expect=FeedbackRouted)
    assert routed.data.feedback == item.data
    assert routed.data.method is RoutingMethod.RULE
    assert outputs[0].key == item.data.ticket_id
    assert outputs[0].value == outputs[1].value


def test_reprocessing_an_item_yields_the_same_event_id() -> None:
    item = factories.received("路灯坏了")
    agent = route_agent()
    first = run(agent, factories.records(encode(item)))
    second = run(agent, factories.records(encode(item)))
    assert decode(first[0].value).id == decode(second[0].value).id


def test_a_poison_message_goes_to_the_dlq_and_the_next_item_is_still_routed() -> None:
    good = factories.received("学校门口交通拥堵，红绿灯时间太短")
    outputs = run(route_agent(), factories.records(b"{this is not an event", encode(good), None))
    # No operator rule matches; the (fixed) model is sure it is about education.
    assert topics(outputs) == [DEAD_LETTER, FEEDBACK_ROUTED, "queue.education", DEAD_LETTER]
    letter = decode(outputs[0].value, expect=DeadLetter).data
    assert (letter.consumer, letter.offset, letter.value) == ("router", 0, "{this is not an event")
    assert "not JSON" in letter.error
    assert "empty message" in decode(outputs[3].value, expect=DeadLetter).data.error


class BrokenClassifier:
    """A model that fails, as a corrupt artifact or a bug would."""

    def rank(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        raise RuntimeError("model exploded")


def test_a_model_failure_dead_letters_the_batch_and_routing_goes_on() -> None:
    item = factories.received("关于我们村的一些情况反映")
    failed = run(route_agent(classifier=BrokenClassifier()), factories.records(encode(item)))
    assert topics(failed) == [DEAD_LETTER]
    assert "model exploded" in decode(failed[0].value, expect=DeadLetter).data.error
    mixed = route_batch(
        table=load_rule_table(DEFAULT_RULES),
        classifier=FixedClassifier(("民政", 0.9)),
        threshold=0.77,
        raws=[b"junk", encode(item), None],
    )
    assert [o.routed is not None for o in mixed] == [False, True, False]
    assert mixed[1].routed is not None and mixed[1].routed.data.department_code == "civil"


def test_an_unsure_item_goes_to_the_dispatch_desk_and_waits_in_triage(
    sessions: sessionmaker[Session],
) -> None:
    item = factories.received("关于我们村的一些情况反映")
    unsure = FixedClassifier(("城乡建设", 0.4), ("民政", 0.35))
    outputs = run(
        route_agent(classifier=unsure, sessions=sessions), factories.records(encode(item))
    )
    assert topics(outputs) == [FEEDBACK_ROUTED, "queue.dispatch"]
    assert decode(outputs[0].value, expect=FeedbackRouted).data.method is RoutingMethod.TRIAGE
    with sessions() as session:
        (waiting,) = service.list_open_triage(session=session, limit=10)
        assert waiting.ticket_no == item.data.ticket_no
        assert waiting.received_event == encode(item)


def test_routing_links_a_near_copy_to_the_earlier_ticket() -> None:
    texts = ["幸福小区电梯坏了三天没人修", "幸福小区电梯坏了三天没人修", "幸福小区物业乱收费"]
    items = [
        factories.received(text, ticket_no=f"261122100{n:03d}0") for n, text in enumerate(texts)
    ]
    agent = route_agent(
        classifier=FixedClassifier(("城乡建设", 0.9)),
        detector=Detector(),
    )
    outputs = run(agent, factories.records(*(encode(item) for item in items)))
    routed = [
        decode(o.value, expect=FeedbackRouted).data for o in outputs if o.topic == FEEDBACK_ROUTED
    ]
    assert [r.duplicate_of for r in routed] == [None, items[0].data.ticket_no, None]
    # Hotspots are the signals worker's: the router publishes none.
    assert FEEDBACK_HOTSPOTS not in topics(outputs)


def test_a_copy_of_an_item_read_at_another_offset_is_not_routed_again(
    sessions: sessionmaker[Session],
) -> None:
    agent = route_agent(sessions=sessions)
    item = factories.received("小区自来水管漏水，已经停水两天了")
    # intake's relay published it twice: once in this batch, once in the next
    first = run(agent, factories.records(encode(item), encode(item)))
    later = run(agent, factories.records(encode(item), first=7))
    assert topics(first) == [FEEDBACK_ROUTED, "queue.water"]
    assert later == []
    assert agent.metrics.copies_dropped._value.get() == 2


def test_the_same_offset_read_again_is_a_redelivery_and_is_routed_again(
    sessions: sessionmaker[Session],
) -> None:
    agent = route_agent(sessions=sessions)
    item = factories.received("小区自来水管漏水，已经停水两天了")
    first = run(agent, factories.records(encode(item), first=5))
    # The router stopped before committing: the same record comes again, and so do its
    # records (same event id, which consumers drop).
    again = run(agent, factories.records(encode(item), first=5))
    assert topics(again) == topics(first) == [FEEDBACK_ROUTED, "queue.water"]
    assert decode(again[0].value).id == decode(first[0].value).id
    with sessions.begin() as session:
        later = [("t2", 1, 7), ("t1", 2, 9), ("t2", 1, 8)]
        assert service.create_deliveries(session=session, deliveries=[("t1", 0, 5)]) == set()
        assert service.create_deliveries(session=session, deliveries=later) == {1, 2}


def test_a_batch_another_router_stored_meanwhile_is_stored_again_not_crashed(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two routers hold one partition for a moment during a rebalance: the other one stores
    # the same items between this router's look-up and its insert.
    texts = ["小区1号楼电梯坏了", "小区2号楼电梯坏了", "小区3号楼电梯坏了"]
    items = [factories.received(t, ticket_no=f"26112210{n:05d}") for n, t in enumerate(texts)]
    outcomes = route_batch(
        table=load_rule_table(DEFAULT_RULES),
        classifier=FixedClassifier(("城乡建设", 0.9)),
        threshold=0.77,
        raws=[encode(i) for i in items],
    )
    places = [(0, offset) for offset in range(len(items))]
    first_insert = service.insert
    raced: list[bool] = []

    def other_router_first(*args: Any) -> Any:
        if not raced:  # after this router's look-up, before its first insert
            raced.append(True)
            agents._remember(sessions, outcomes, places)  # the other replica, committed
        return first_insert(*args)

    monkeypatch.setattr(service, "insert", other_router_first)
    assert agents.remember(sessions, outcomes, places) == set()
    assert raced
    with sessions() as session:
        for item in items:
            assert service.get_routing_record(session=session, ticket_id=item.data.ticket_id)


def returned_by(item: Any, department: str) -> bytes:
    event = TicketEvent(
        ticket_id=item.data.ticket_id,
        ticket_no=item.data.ticket_no,
        kind=TicketEventKind.RETURNED,
        state_from=TicketState.ROUTED,
        state_to=TicketState.RETURNED,
        department_code=department,
        priority=Priority.NORMAL,
        actor=f"department:{department}",
        reason="不属于我单位职责",
        received_at=item.data.received_at,
        occurred_at=datetime.now(UTC),
    )
    return encode(new_event(data=event, source="/followup", subject=item.data.ticket_id))


def test_a_returned_item_is_published_to_the_next_department_then_recorded(
    sessions: sessionmaker[Session],
) -> None:
    item = factories.received("小区旁边的空地堆满建筑垃圾")
    ranking = [("城乡建设", 0.55), ("环境保护", 0.3)]
    with sessions.begin() as session:
        service.create_routing_records(
            session=session,
            records=[(item.data.ticket_id, encode(item), ranking, "housing")],
            now=datetime.now(UTC),
        )
    recorder = Recorder()
    agent = ReturnsAgent(
        table=load_rule_table(DEFAULT_RULES), threshold=0.77, publish=recorder, sessions=sessions
    )
    other = factories.routed(item)  # any other ticket event is not the router's business
    records = factories.records(
        b"junk", encode(other), returned_by(item, "housing"), topic="ticket.events"
    )
    assert run(agent, records) == []
    assert [topic for topic, _, _ in recorder.sent] == [FEEDBACK_ROUTED, "queue.environment"]
    with sessions() as session:
        record = service.get_routing_record(session=session, ticket_id=item.data.ticket_id)
        assert record is not None and record.returns == 1
