"""The routing agent, run with faust's test context and a recording publisher."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest

from feedbackloop.events import DeadLetter, FeedbackRouted, decode, encode
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_ROUTED
from feedbackloop.runtime.sql import create_store
from services.router import agents, service
from services.router.config import DEFAULT_RULES
from services.router.metrics import RouterMetrics
from services.router.models import Base
from services.router.rules import load_rule_table
from tests import factories
from tests.router.test_rules import FixedClassifier


class Recorder:
    """Collects what the agent publishes."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def __call__(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def topics(self) -> list[str]:
        return [topic for topic, _, _ in self.sent]


@pytest.fixture
def setup() -> Iterator[tuple[faust.App, object, Recorder]]:
    app = faust.App("test-router", store="memory://", autodiscover=False, web_enabled=False)
    recorder = Recorder()
    source = app.topic("feedback.received", key_serializer="raw", value_serializer="raw")
    agent = agents.register(
        app,
        source=source,
        table=load_rule_table(DEFAULT_RULES),
        classifier=FixedClassifier(("教育文体", 0.9)),
        threshold=0.77,
        publish=recorder,
        metrics=RouterMetrics(),
    )
    yield app, agent, recorder


def test_an_item_is_routed_and_queued(setup: tuple[faust.App, object, Recorder]) -> None:
    _, agent, recorder = setup
    item = factories.received("小区自来水管漏水，已经停水两天了")

    async def run() -> None:
        async with agent.test_context() as context:  # type: ignore[attr-defined]
            await context.put(key=item.subject.encode(), value=encode(item))

    asyncio.run(run())
    assert recorder.topics() == [FEEDBACK_ROUTED, "queue.water"]
    routed = decode(recorder.sent[0][2], expect=FeedbackRouted)
    assert routed.data.feedback == item.data
    assert recorder.sent[0][1] == item.data.ticket_id
    assert recorder.sent[0][2] == recorder.sent[1][2]


def test_reprocessing_an_item_yields_the_same_event_id(
    setup: tuple[faust.App, object, Recorder],
) -> None:
    _, agent, recorder = setup
    item = factories.received("路灯坏了")

    async def run() -> None:
        async with agent.test_context() as context:  # type: ignore[attr-defined]
            await context.put(key=b"k", value=encode(item))
            await context.put(key=b"k", value=encode(item))

    asyncio.run(run())
    first, second = (decode(v) for t, _, v in recorder.sent if t == FEEDBACK_ROUTED)
    assert first.id == second.id


def test_a_poison_message_goes_to_the_dlq_and_the_next_item_is_still_routed(
    setup: tuple[faust.App, object, Recorder],
) -> None:
    _, agent, recorder = setup
    good = factories.received("学校门口交通拥堵，红绿灯时间太短")

    async def run() -> None:
        async with agent.test_context() as context:  # type: ignore[attr-defined]
            await context.put(key=b"bad", value=b"{this is not an event")
            await context.put(key=good.subject.encode(), value=encode(good))

    asyncio.run(run())
    # No operator rule matches; the (fixed) model is sure it is about education.
    assert recorder.topics() == [DEAD_LETTER, FEEDBACK_ROUTED, "queue.education"]
    letter = decode(recorder.sent[0][2], expect=DeadLetter).data
    assert letter.consumer == "router"
    assert "not JSON" in letter.error
    assert letter.value == "{this is not an event"


class BrokenClassifier:
    """A model that fails, as a corrupt artifact or a bug would."""

    def rank(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        raise RuntimeError("model exploded")


def test_a_model_failure_dead_letters_the_batch_and_routing_goes_on() -> None:
    from services.router.agents import route_batch

    table = load_rule_table(DEFAULT_RULES)
    item = factories.received("关于我们村的一些情况反映")
    failed = route_batch(
        table=table, classifier=BrokenClassifier(), threshold=0.77, raws=[encode(item)]
    )
    assert failed[0].routed is None and "model exploded" in (failed[0].error or "")
    mixed = route_batch(
        table=table,
        classifier=FixedClassifier(("民政", 0.9)),
        threshold=0.77,
        raws=[b"junk", encode(item), None],
    )
    assert [o.routed is not None for o in mixed] == [False, True, False]
    assert mixed[1].routed is not None and mixed[1].routed.data.department_code == "civil"


def test_routing_links_a_near_copy_and_reports_a_burst_about_one_place() -> None:
    from datetime import timedelta

    from feedbackloop.events import HotspotDetected
    from services.router.agents import route_batch
    from services.router.hotspots import Detector

    table = load_rule_table(DEFAULT_RULES)
    detector = Detector(hotspot_items=3, hotspot_window=timedelta(hours=24))
    texts = ["幸福小区电梯坏了三天没人修", "幸福小区电梯坏了三天没人修", "幸福小区物业乱收费"]
    items = [
        factories.received(text, ticket_no=f"261122100{n:03d}0") for n, text in enumerate(texts)
    ]
    outcomes = route_batch(
        table=table,
        classifier=FixedClassifier(("城乡建设", 0.9)),
        threshold=0.77,
        raws=[encode(item) for item in items],
        detector=detector,
    )
    routed = [o.routed.data for o in outcomes if o.routed is not None]
    assert [r.duplicate_of for r in routed] == [None, items[0].data.ticket_no, None]
    assert outcomes[2].hotspot is not None
    spot = decode(encode(outcomes[2].hotspot), expect=HotspotDetected).data
    assert spot.place == "幸福小区" and len(spot.ticket_nos) == 3
    assert outcomes[0].hotspot is None and outcomes[1].hotspot is None


def test_a_copy_of_an_item_read_at_another_offset_is_not_routed_again(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)
    app = faust.App("test-router-copies", store="memory://", autodiscover=False)
    recorder, metrics = Recorder(), RouterMetrics()
    agent = agents.register(
        app,
        source=app.topic("feedback.received", key_serializer="raw", value_serializer="raw"),
        table=load_rule_table(DEFAULT_RULES),
        classifier=FixedClassifier(("教育文体", 0.9)),
        threshold=0.77,
        publish=recorder,
        metrics=metrics,
        sessions=sessions,
    )
    item = factories.received("小区自来水管漏水，已经停水两天了")

    async def run() -> None:
        async with agent.test_context() as context:  # type: ignore[attr-defined]
            # intake's relay published it twice: the test context gives each its own offset
            await context.put(key=b"k", value=encode(item))
            await context.put(key=b"k", value=encode(item))
            # The store is written in a worker thread: wait until both have been handled.
            deadline = time.monotonic() + 10
            while metrics.copies_dropped._value.get() < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

    asyncio.run(run())
    assert recorder.topics() == [FEEDBACK_ROUTED, "queue.water"]
    assert metrics.copies_dropped._value.get() == 1


def test_the_same_offset_read_again_is_a_redelivery_and_is_routed_again(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)
    with sessions.begin() as session:
        assert service.create_deliveries(session=session, deliveries=[("t1", 0, 5)]) == set()
    with sessions.begin() as session:
        # after a crash the same record comes again: its first output was aborted
        assert service.create_deliveries(session=session, deliveries=[("t1", 0, 5)]) == set()
        again = [("t2", 1, 7), ("t1", 2, 9), ("t2", 1, 8)]
        assert service.create_deliveries(session=session, deliveries=again) == {1, 2}


def test_a_batch_another_router_stored_meanwhile_is_stored_again_not_crashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two routers hold one partition for a moment during a rebalance: the other one stores
    # the same items between this router's look-up and its insert.
    sessions = create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)
    texts = ["小区1号楼电梯坏了", "小区2号楼电梯坏了", "小区3号楼电梯坏了"]
    items = [factories.received(t, ticket_no=f"26112210{n:05d}") for n, t in enumerate(texts)]
    outcomes = agents.route_batch(
        table=load_rule_table(DEFAULT_RULES), classifier=FixedClassifier(("城乡建设", 0.9)),
        threshold=0.77, raws=[encode(i) for i in items],
    )  # fmt: skip
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
