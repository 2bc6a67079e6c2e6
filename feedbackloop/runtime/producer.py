"""Publishing to Kafka on aiokafka directly: whole batches of records, or one record at a time.

`KafkaPublisher` is an idempotent producer (acks=all). `send_many` puts a list of records
into one closed record batch per partition and hands those over at once, which costs a few
microseconds a record where `send` costs tens (a future, a partitioner call and an
accumulator lookup each); the router's 2,000 items a second rest on it. Keys are
partitioned as every Kafka client does it (murmur2 of the key, modulo the partitions), so a
ticket's events land on the same partition number whichever service or client sent them.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

log = logging.getLogger(__name__)


#: Hands one record (topic, key, value) to the producer and returns its receipt: an
#: awaitable that resolves once the broker has the record (None from a test's recorder).
Publish = Callable[[str, str, bytes], Awaitable[Awaitable[Any] | None]]


class NotConnected(ConnectionError):
    """A record was handed over before the publisher connected (or after it stopped)."""


@dataclass(frozen=True, slots=True)
class Output:
    """One record to publish: topic, key (the ticket id) and value (an encoded event)."""

    topic: str
    key: str
    value: bytes


class KafkaPublisher:
    """An idempotent, acks=all producer for raw records (the `Publish` of these services)."""

    def __init__(
        self,
        *,
        bootstrap: str,
        client_id: str,
        max_batch_bytes: int = 512 * 1024,
        linger_ms: int = 5,
    ) -> None:
        self._settings: dict[str, Any] = {
            "bootstrap_servers": bootstrap.split(","),
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "max_batch_size": max_batch_bytes,
            "linger_ms": linger_ms,
            # An event is at most 1 MB (the codec's limit); a dead letter wraps one.
            "max_request_size": 2 * 1024 * 1024,
        }
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, list[int]] = {}

    async def start(self) -> None:
        """Connect to the cluster; raises if the broker does not answer (try again later)."""
        producer = AIOKafkaProducer(**self._settings)  # needs the running event loop
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Deliver what was handed over, then disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @property
    def connected(self) -> bool:
        """True between a successful start and the stop."""
        return self._producer is not None

    def _connected(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise NotConnected("not connected to Kafka yet")
        return self._producer

    async def __call__(self, topic: str, key: str, value: bytes) -> Awaitable[Any]:
        """Hand one record over; the receipt resolves once the broker has it."""
        receipt: Awaitable[Any] = await self._connected().send(topic, value, key=key.encode())
        return receipt

    async def send_many(self, outputs: Sequence[Output]) -> list[Awaitable[Any]]:
        """Hand records over as one batch per partition (in order within a partition); the
        receipts resolve once the broker has them."""
        producer = self._connected()
        builders: dict[tuple[str, int], Any] = {}
        full: list[tuple[Any, str, int]] = []
        partition_of: dict[tuple[str, int], int] = {}  # a key's murmur2 hash, per count
        for output in outputs:
            partitions = self._partitions.get(output.topic)
            if partitions is None:
                partitions = await self._load_partitions(output.topic)
            key = output.key.encode()
            slot = (output.key, len(partitions))
            index = partition_of.get(slot)
            if index is None:
                index = partition_of[slot] = (murmur2(key) & 0x7FFFFFFF) % len(partitions)
            where = (output.topic, partitions[index])
            builder = builders.get(where)
            if builder is None:
                builder = builders[where] = producer.create_batch()
            if builder.append(key=key, value=output.value, timestamp=None) is None:
                # Full: queue it and start the next one (an empty batch takes any record).
                full.append((builder, *where))
                builder = builders[where] = producer.create_batch()
                builder.append(key=key, value=output.value, timestamp=None)
        batches = full + [(builder, *where) for where, builder in builders.items()]
        # Handed over together: a partition whose last batch is still being sent makes only
        # its own next batch wait, not every other partition's. Batches of one partition
        # still go in order (waiters resume in the order they began to wait).
        return list(await asyncio.gather(*(self._submit(*batch) for batch in batches)))

    async def _submit(self, builder: Any, topic: str, partition: int) -> Awaitable[Any]:
        # Closed, the batch goes out at once instead of lingering for more records.
        builder.close()
        receipt: Awaitable[Any] = await self._connected().send_batch(
            builder, topic, partition=partition
        )
        return receipt

    async def _load_partitions(self, topic: str) -> list[int]:
        known = await self._connected().partitions_for(topic)
        if not known:
            raise LookupError(f"topic {topic} has no partitions (does it exist?)")
        self._partitions[topic] = sorted(known)
        # Partitions can be added to a topic; look again now and then.
        asyncio.get_running_loop().call_later(60, self._partitions.pop, topic, None)
        return self._partitions[topic]


async def delivered(receipts: Sequence[Awaitable[Any] | None]) -> None:
    """Wait until the broker has every record handed over; a failed send raises."""
    await asyncio.gather(*(receipt for receipt in receipts if receipt is not None))
