"""The metrics service on a real broker: after a SIGKILL and restart the totals are the log's;
its reader catches up exactly, reads partitions added while it runs, and measures the lag."""

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewPartitions

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events import FeedbackReceived, encode
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from services.metrics.fold import EventFold
from services.metrics.reader import LogReader
from tests import factories
from tests.integration.conftest import find_events, metric, wait_for

pytestmark = pytest.mark.integration

RECEIVED_TOTAL = "feedbackloop_feedback_received_total"


def truth(bootstrap: str) -> Counter[str]:
    """Items per channel on feedback.received (each event id once): the ground truth."""
    events = find_events(bootstrap, FEEDBACK_RECEIVED, lambda e: True, count=1, timeout=30)
    unique = {e.id: e.data for e in events if isinstance(e.data, FeedbackReceived)}
    return Counter(data.channel.value for data in unique.values())


def test_a_killed_and_restarted_metrics_service_reports_the_true_totals(
    kafka: LocalKafka, stack: Stack
) -> None:
    intake = stack.services["intake"].url
    metrics = stack.services["metrics"]
    for n in range(5):  # under the per-IP rate limit shared with the other tests
        body = {"title": f"测试{n}", "text": f"第{n}条：小区路灯不亮，请尽快维修。"}
        assert httpx.post(f"{intake}/api/v1/feedback", json=body, timeout=10).status_code == 201
    expected = truth(kafka.bootstrap)
    wait_for(
        lambda: (
            metric(metrics.url, "feedbackloop_feedback_received_total", {"channel": "web"})
            == expected["web"]
        ),
        what="metrics to count every item",
    )

    metrics.stop(kill=True)
    metrics.start(stack.env())
    metrics.wait_healthy(deadline=time.monotonic() + 60)
    wait_for(
        lambda: httpx.get(f"{metrics.url}/healthz", timeout=5).json()["caught_up"],
        what="the restarted metrics service to fold the log",
    )
    for channel, count in expected.items():
        labels = {"channel": channel}
        assert metric(metrics.url, "feedbackloop_feedback_received_total", labels) == count


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit offsets for a consumer group, as its members would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def _until(check: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_the_reader_catches_up_exactly_reads_added_partitions_and_reports_the_lag(
    broker: LocalKafka,
) -> None:
    """On a broker of its own: records published in transactions (each followed by a commit
    marker), a partition added while it reads, a pipeline group behind."""
    first = TopicPartition(FEEDBACK_RECEIVED, 0)
    added = TopicPartition(FEEDBACK_RECEIVED, 6)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="metrics-test")
    producer.init_transactions()
    for _ in range(3):
        producer.begin_transaction()
        producer.send(FEEDBACK_RECEIVED, encode(factories.received()), partition=0)
        producer.commit_transaction()
    producer.flush()

    async def run() -> None:
        fold = EventFold(dedup_window=1000)
        reader = LogReader(bootstrap=broker.bootstrap, fold=fold, watch_interval=0.5)

        def received() -> float:
            labels = {"channel": "web"}
            return fold.registry.get_sample_value(RECEIVED_TOTAL, labels) or 0.0

        seen_when_caught_up: list[float] = []

        def caught_up() -> bool:
            if reader.caught_up:
                seen_when_caught_up.append(received())
            return reader.caught_up

        await reader.start()
        try:
            await _until(caught_up, "the reader to catch up")
            # Not a record short (the markers after each one are not records to wait for).
            assert seen_when_caught_up[0] == 3
            assert reader.healthy()

            # Offsets 0, 2, 4 hold the records, 1, 3, 5 the markers: folded to 5.
            assert reader.handler.positions[first] == 5
            await _commit(broker.bootstrap, "feedbackloop-router", {first: 1})
            await _until(lambda: fold.lag == 5 - 1, "the router's lag behind what is folded")

            old_loop = reader.service.loop
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
            try:
                admin.create_partitions({FEEDBACK_RECEIVED: NewPartitions(total_count=7)})
            finally:
                admin.close()
            # A new producer: the first one's metadata does not have the new partition yet.
            late = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            late.send(FEEDBACK_RECEIVED, encode(factories.received()), partition=6).get(30)
            late.close()
            await _until(lambda: received() == 4, "the record on the added partition")
            assert reader.service.loop is not old_loop  # the loop started again
            assert reader.handler.positions[added] == 1
            assert reader.handler.positions[first] == 5
            await _until(lambda: reader.healthy(), "the new loop to read")
            assert received() == 4  # the first partition, read again, was not counted twice
        finally:
            await reader.stop()

    try:
        asyncio.run(run())
    finally:
        producer.close()
