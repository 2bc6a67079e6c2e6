"""The batch loop: handled in order, committed only once delivered, read again after a failure,
partitions handed on only once committed."""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import TopicPartition

from feedbackloop.events import DeadLetter, decode
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.batches import BatchLoop, Record, dead_letter_output
from feedbackloop.runtime.producer import Output
from tests.factories import KafkaRecord

TOPIC = "feedback.received"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class FakeConsumer:
    """Partitions in memory, read from a position, with the group's committed offsets."""

    def __init__(self, partitions: dict[TopicPartition, list[bytes]]) -> None:
        self.logs = {
            tp: [KafkaRecord(tp.topic, tp.partition, n, b"k", v) for n, v in enumerate(values)]
            for tp, values in partitions.items()
        }
        self.position = dict.fromkeys(partitions, 0)
        self.committed: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.listener: Any = None

    def subscribe(self, topics: Sequence[str], *, listener: Any) -> None:
        self.listener = listener

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        for tp, log in self.logs.items():
            start = self.position[tp]
            if start < len(log):
                taken = log[start : start + (max_records or len(log))]
                self.position[tp] = start + len(taken)
                return {tp: taken}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        assert offsets is not None
        self.commits.append(dict(offsets))
        self.committed.update(offsets)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.position[partition] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.logs)

    def add(self, tp: TopicPartition, value: bytes) -> None:
        log = self.logs[tp]
        log.append(KafkaRecord(tp.topic, tp.partition, len(log), b"k", value))


class FakePublisher:
    """Records what is sent; deliveries succeed at once unless told otherwise."""

    def __init__(self) -> None:
        self.sent: list[Output] = []
        self.fail_next = 0
        self.hold: asyncio.Event | None = None

    async def send_many(self, outputs: Sequence[Output]) -> list[Awaitable[Any]]:
        receipt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_next:
            self.fail_next -= 1
            receipt.set_exception(ConnectionError("broker gone"))
        elif self.hold is not None:
            hold = self.hold

            async def later() -> None:
                await hold.wait()
                self.sent.extend(outputs)
                receipt.set_result(None)

            asyncio.get_running_loop().create_task(later())
            return [receipt]
        else:
            self.sent.extend(outputs)
            receipt.set_result(None)
        return [receipt]


class Echo:
    """A handler that publishes each record's value to `out`, upper-cased in prepare."""

    def __init__(self) -> None:
        self.handled: list[bytes] = []
        self.prepare_threads: set[str] = set()
        self.fail_next = 0

    def prepare(self, records: list[Record]) -> list[Record]:
        self.prepare_threads.add(threading.current_thread().name)
        return records

    async def handle(self, records: list[Record]) -> list[Output]:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("database is locked")
        self.handled += [r.value or b"" for r in records]
        return [Output("out", "k", r.value or b"") for r in records]


async def until(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Poll a condition with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def started(
    consumer: FakeConsumer, publisher: FakePublisher, handler: Echo, **options: Any
) -> BatchLoop:
    """A loop over `TOPIC` with quick fetches, started."""
    loop = BatchLoop(
        consumer=consumer,
        publisher=publisher,
        handlers={TOPIC: handler},
        fetch_timeout_ms=5,
        **options,
    )
    await loop.start()
    return loop


def values(n: int, prefix: str = "m") -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(n)]


def test_batches_are_handled_in_order_in_a_worker_thread_and_committed() -> None:
    consumer = FakeConsumer({P0: values(7), P1: values(3, "n")})
    publisher, echo = FakePublisher(), Echo()

    async def run() -> None:
        loop = await started(consumer, publisher, echo, batch_size=3)
        await until(lambda: consumer.committed == {P0: 7, P1: 3})
        await loop.stop()

    asyncio.run(run())
    assert echo.handled == values(7) + values(3, "n")
    assert [o.value for o in publisher.sent] == values(7) + values(3, "n")
    assert threading.main_thread().name not in echo.prepare_threads
    # Offsets only ever move forward, batch by batch.
    assert [c.get(P0) for c in consumer.commits if P0 in c] == [3, 6, 7]


def test_nothing_is_committed_before_the_broker_has_the_batch() -> None:
    consumer = FakeConsumer({P0: values(2)})
    publisher, echo = FakePublisher(), Echo()

    async def run() -> None:
        publisher.hold = asyncio.Event()
        loop = await started(consumer, publisher, echo)
        await until(lambda: echo.handled == values(2))
        await asyncio.sleep(0)  # give the loop every chance to commit early
        assert consumer.commits == []
        publisher.hold.set()
        await until(lambda: consumer.committed == {P0: 2})
        await loop.stop()

    asyncio.run(run())


def test_a_failed_delivery_reads_the_batch_again_and_loses_nothing() -> None:
    consumer = FakeConsumer({P0: values(4)})
    publisher, echo = FakePublisher(), Echo()
    publisher.fail_next = 1

    async def run() -> BatchLoop:
        loop = await started(consumer, publisher, echo, batch_size=2, first_backoff=0.01)
        await until(lambda: consumer.committed == {P0: 4})
        await loop.stop()
        return loop

    loop = asyncio.run(run())
    # The first batch failed on its way to the broker (the second had gone out meanwhile):
    # both were read and sent again, so every record is on the broker, the second twice
    # (at least once: its copies carry the same event ids, which consumers drop).
    sent = [o.value for o in publisher.sent]
    assert sent[-4:] == values(4) and set(sent) == set(values(4))
    assert loop.status.failures == 1 and "broker gone" in (loop.status.last_error or "")
    assert not loop.status.crashed


def test_a_failing_handler_is_retried_after_a_pause_and_then_goes_on() -> None:
    consumer = FakeConsumer({P0: values(3)})
    publisher, echo = FakePublisher(), Echo()
    echo.fail_next = 2  # the store is locked twice in a row

    async def run() -> BatchLoop:
        loop = await started(consumer, publisher, echo, first_backoff=0.01)
        await until(lambda: consumer.committed == {P0: 3})
        consumer.add(P0, b"later")
        await until(lambda: consumer.committed == {P0: 4})
        await loop.stop()
        return loop

    loop = asyncio.run(run())
    assert [o.value for o in publisher.sent] == [*values(3), b"later"]
    assert loop.status.failures == 2 and "database is locked" in (loop.status.last_error or "")


def test_a_rebalance_hands_partitions_on_only_once_everything_read_is_committed() -> None:
    consumer = FakeConsumer({P0: values(5)})
    publisher, echo = FakePublisher(), Echo()

    async def run() -> None:
        publisher.hold = asyncio.Event()
        loop = await started(consumer, publisher, echo)
        await until(lambda: echo.handled == values(5))
        revoked = asyncio.create_task(consumer.listener.on_partitions_revoked({P0}))
        await asyncio.sleep(0.05)
        assert not revoked.done(), "partitions handed on with a batch still in flight"
        publisher.hold.set()
        await asyncio.wait_for(revoked, 5)
        assert consumer.committed == {P0: 5}
        await loop.stop()

    asyncio.run(run())


def test_a_dead_letter_says_where_the_record_came_from_and_why() -> None:
    record = KafkaRecord(TOPIC, 1, 42, b"ticket-1", b"{not json")
    output = dead_letter_output(consumer="router", record=record, reason="not JSON")
    letter = decode(output.value, expect=DeadLetter).data
    assert output.topic == DEAD_LETTER and output.key == "ticket-1"
    assert (letter.topic, letter.partition, letter.offset) == (TOPIC, 1, 42)
    assert (letter.value, letter.error, letter.consumer) == ("{not json", "not JSON", "router")


def test_stop_commits_what_was_published() -> None:
    consumer = FakeConsumer({P0: values(3)})
    publisher, echo = FakePublisher(), Echo()

    async def run() -> None:
        loop = await started(consumer, publisher, echo)
        await until(lambda: len(publisher.sent) == 3)
        await loop.stop()

    asyncio.run(run())
    assert consumer.committed == {P0: 3}


def test_a_fetch_that_fails_is_tried_again() -> None:
    from aiokafka.errors import KafkaConnectionError

    consumer = FakeConsumer({P0: values(2)})
    publisher, echo = FakePublisher(), Echo()
    real_getmany = consumer.getmany
    failures = [KafkaConnectionError("connection lost")]

    async def flaky(*args: Any, **kwargs: Any) -> dict[TopicPartition, list[Any]]:
        if failures:
            raise failures.pop()
        return await real_getmany(*args, **kwargs)

    consumer.getmany = flaky  # type: ignore[method-assign]

    async def run() -> BatchLoop:
        loop = await started(consumer, publisher, echo, first_backoff=0.01)
        await until(lambda: consumer.committed == {P0: 2})
        await loop.stop()
        return loop

    loop = asyncio.run(run())
    assert loop.status.failures == 1 and not loop.status.crashed
