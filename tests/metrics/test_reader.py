"""The fold in the consumer runtime: each record folded once, even when the loop starts over."""

import asyncio
import threading
import time
from collections.abc import Callable

from aiokafka import TopicPartition

from feedbackloop.events import encode
from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED
from feedbackloop.runtime.batches import BatchLoop
from services.metrics.fold import EventFold
from services.metrics.reader import TOPICS, FoldBatch
from tests import factories
from tests.metrics.memory_log import MemoryLog, Sent

RECEIVED0, RECEIVED1 = TopicPartition(FEEDBACK_RECEIVED, 0), TopicPartition(FEEDBACK_RECEIVED, 1)
ROUTED0 = TopicPartition(FEEDBACK_ROUTED, 0)


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def received_total(fold: EventFold) -> float:
    value = fold.registry.get_sample_value(
        "feedbackloop_feedback_received_total", {"channel": "web"}
    )
    return value or 0.0


async def fold_all(handler: FoldBatch, log: MemoryLog, records: int) -> None:
    loop = BatchLoop(
        consumer=log,
        publisher=Sent(),
        handlers=dict.fromkeys(TOPICS, handler),
        fetch_timeout_ms=5,
        batch_size=2,
        grouped=False,
    )
    await loop.start()
    try:
        await until(lambda: handler.folded == records)
    finally:
        await loop.stop(timeout=1)


def test_every_partition_of_every_topic_is_folded_from_the_beginning() -> None:
    fold = EventFold(dedup_window=100)
    handler = FoldBatch(fold)
    item = factories.received()
    log = MemoryLog(
        {
            RECEIVED0: [encode(item), encode(factories.received())],
            RECEIVED1: [encode(factories.received())],
            ROUTED0: [encode(factories.routed(item))],
        }
    )
    asyncio.run(fold_all(handler, log, 4))
    assert received_total(fold) == 3
    assert fold.registry.get_sample_value("feedbackloop_pipeline_latency_seconds_count") == 1
    assert handler.positions == {RECEIVED0: 2, RECEIVED1: 1, ROUTED0: 1}


def test_a_loop_that_starts_over_with_an_added_partition_folds_nothing_twice() -> None:
    # A window of one id: only the offsets keep the first partition from being counted again.
    fold = EventFold(dedup_window=1)
    handler = FoldBatch(fold)
    log = MemoryLog({RECEIVED0: [encode(factories.received()) for _ in range(3)]})
    asyncio.run(fold_all(handler, log, 3))
    assert received_total(fold) == 3
    # The topic gained a partition: the new loop reads every partition from the beginning.
    log.add(RECEIVED1, encode(factories.received()))
    log.add(RECEIVED0, encode(factories.received()))
    asyncio.run(fold_all(handler, log, 5))
    assert received_total(fold) == 5
    assert handler.positions == {RECEIVED0: 4, RECEIVED1: 1}


def test_caught_up_means_every_partition_folded_to_where_the_log_ended_at_start() -> None:
    handler = FoldBatch(EventFold(dedup_window=100))
    handler.aim_at({RECEIVED0: 2, RECEIVED1: 1})
    assert not handler.caught_up
    handler.fold_batch(handler.prepare(factories.records(encode(factories.received()), b"x")))
    assert not handler.caught_up  # partition 1 is not folded yet
    records = factories.records(encode(factories.received()), partition=1)
    handler.fold_batch(handler.prepare(records))
    assert handler.caught_up
    assert handler.folded == 3 and handler.skipped == 0  # an undecodable record is not a fault


def test_a_log_with_nothing_on_it_is_caught_up_at_once() -> None:
    handler = FoldBatch(EventFold(dedup_window=100))
    handler.aim_at({})
    assert handler.caught_up


def test_records_are_decoded_off_the_event_loop() -> None:
    threads: set[str] = set()

    class Watched(FoldBatch):
        def prepare(self, records: list) -> list:  # type: ignore[type-arg]
            threads.add(threading.current_thread().name)
            return super().prepare(records)

    handler = Watched(EventFold(dedup_window=100))
    log = MemoryLog({RECEIVED0: [encode(factories.received())]})
    asyncio.run(fold_all(handler, log, 1))
    assert threads and threading.main_thread().name not in threads
