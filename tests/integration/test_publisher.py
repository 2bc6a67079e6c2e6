"""The batched publisher on a real broker: partitions as every Kafka client, order kept."""

import asyncio
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.events.topics import FEEDBACK_HOTSPOTS, FEEDBACK_ROUTED
from feedbackloop.runtime.producer import KafkaPublisher, NotConnected, Output, delivered

pytestmark = pytest.mark.integration


def read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) of every record of a topic, in order per partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        seen: list[tuple[int, bytes, bytes]] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                seen += [(tp.partition, r.key, r.value) for r in batch]
        return seen
    finally:
        consumer.close()


def test_batches_land_where_other_clients_put_the_same_keys(kafka: LocalKafka) -> None:
    keys = [str(uuid.uuid4()) for _ in range(300)]
    # A big value forces more than one batch per partition.
    outputs = [Output(FEEDBACK_ROUTED, k, f"{n:04d}".encode() * 2000) for n, k in enumerate(keys)]

    async def publish() -> None:
        publisher = KafkaPublisher(
            bootstrap=kafka.bootstrap, client_id="test", max_batch_bytes=64 << 10
        )
        with pytest.raises(NotConnected):
            await publisher.send_many(outputs)
        await publisher.start()
        try:
            await delivered(await publisher.send_many(outputs))
            await delivered([await publisher(FEEDBACK_HOTSPOTS, keys[0], b"one")])
        finally:
            await publisher.stop()

    asyncio.run(publish())
    reference = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    try:
        for key in keys:
            reference.send(FEEDBACK_HOTSPOTS, key=key.encode(), value=b"reference")
        reference.flush()
    finally:
        reference.close()
    routed = [(p, k.decode(), v) for p, k, v in read_all(kafka.bootstrap, FEEDBACK_ROUTED)]
    ours = {key: partition for partition, key, _ in routed if key in set(keys)}
    theirs = {
        key.decode(): partition
        for partition, key, value in read_all(kafka.bootstrap, FEEDBACK_HOTSPOTS)
        if value == b"reference"
    }
    assert ours == theirs and len(ours) == len(keys)
    # Within each partition, the records are in the order they were handed over.
    for partition in set(ours.values()):
        mine = [value for p, key, value in routed if p == partition and key in ours]
        assert mine == sorted(mine)
