"""A Kafka log in memory, read the way `BatchLoop` reads one (unit tests only).

It serves both ways of reading: in a group (subscribe, commit) and without one (assign every
partition, from the beginning), with the high-water marks `BatchLoop.lag` asks for.
"""

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka import TopicPartition

from feedbackloop.runtime.producer import Output
from tests.factories import KafkaRecord


class MemoryLog:
    """Partitions in memory, read from a position, with a group's committed offsets."""

    def __init__(self, partitions: dict[TopicPartition, list[bytes | None]]) -> None:
        self.logs = {
            tp: [KafkaRecord(tp.topic, tp.partition, n, b"k", v) for n, v in enumerate(values)]
            for tp, values in partitions.items()
        }
        self.position = dict.fromkeys(partitions, 0)
        self.committed: dict[TopicPartition, int] = {}
        self.assigned: set[TopicPartition] = set()
        self.listener: Any = None
        #: Raised by the next fetch, if set (a bug in the client, say).
        self.fail_fetch: BaseException | None = None

    def add(self, tp: TopicPartition, value: bytes | None) -> None:
        log = self.logs.setdefault(tp, [])
        self.position.setdefault(tp, 0)
        log.append(KafkaRecord(tp.topic, tp.partition, len(log), b"k", value))

    # Reading in a group.
    def subscribe(self, topics: Sequence[str], *, listener: Any) -> None:
        self.listener = listener
        self.assigned = {tp for tp in self.logs if tp.topic in topics}
        for tp in self.assigned:
            self.position[tp] = self.committed.get(tp, 0)

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        assert offsets is not None
        self.committed.update(offsets)

    # Reading without a group.
    async def beginning_offsets(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 0)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {tp.partition for tp in self.logs if tp.topic == topic} or None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = set(partitions)

    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool:
        for tp in partitions:
            self.position[tp] = 0
        return True

    # Both.
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        if self.fail_fetch is not None:
            raise self.fail_fetch
        for tp in sorted(self.assigned):
            log, start = self.logs[tp], self.position[tp]
            if start < len(log):
                taken = log[start : start + (max_records or len(log))]
                self.position[tp] = start + len(taken)
                return {tp: taken}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.position[partition] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.logs[partition])


class Sent:
    """A publisher that takes every record at once and keeps them."""

    def __init__(self) -> None:
        self.sent: list[Output] = []

    async def send_many(self, outputs: Sequence[Output]) -> list[Awaitable[Any]]:
        self.sent.extend(outputs)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return [done]
