"""The router's Kafka plumbing with no routing: the floor under any router's cost per item.

The router's batch loop (same consumer group, batches of 500, a worker thread preparing the
next batch, two records out per item through the same batched publisher, a commit once the
broker has them) with an agent that forwards each item unchanged. `bench.router` times it
on the same backlog as the router.

    .venv/bin/python -m bench.plumbing BOOTSTRAP
"""

import asyncio
import sys

from aiokafka import AIOKafkaConsumer

from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED, queue_topic
from feedbackloop.runtime.batches import BatchLoop, Record
from feedbackloop.runtime.producer import KafkaPublisher, Output

GROUP = "feedbackloop-router"


class Forward:
    """Two records out per record in, as the router sends feedback.routed and a queue."""

    def prepare(self, records: list[Record]) -> list[Record]:
        return records

    async def handle(self, records: list[Record]) -> list[Output]:
        outputs = []
        for record in records:
            key, value = (record.key or b"").decode(), record.value or b""
            outputs.append(Output(FEEDBACK_ROUTED, key, value))
            outputs.append(Output(queue_topic("water"), key, value))
        return outputs


async def forward(bootstrap: str) -> None:
    """Run the forwarding loop until killed."""
    publisher = KafkaPublisher(bootstrap=bootstrap, client_id=GROUP)
    await publisher.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    loop = BatchLoop(
        consumer=consumer, publisher=publisher, handlers={FEEDBACK_RECEIVED: Forward()}
    )
    await loop.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(forward(sys.argv[1]))
