"""The router's Kafka plumbing with no routing: the floor under any router's cost per item.

A faust app shaped like the router (same consumer group, batches of 500, two records out
per item through the same publisher, a commit once the broker has them) that forwards each
item unchanged. `bench.router` times it on the same backlog as the router.

    .venv/bin/python -m bench.plumbing BOOTSTRAP
"""

import asyncio
import sys
from typing import Any

from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED, queue_topic
from feedbackloop.runtime.streams import (
    RawPublisher,
    commit_processed,
    create_stream_app,
    raw_topic,
)

GROUP = "feedbackloop-router"


async def forward(bootstrap: str) -> None:
    """Run the forwarding app until killed."""
    app = create_stream_app(GROUP, bootstrap=bootstrap, partitions=6)
    publish = RawPublisher(app, partitions=6)

    @app.agent(raw_topic(app, FEEDBACK_RECEIVED), name="route")
    async def route(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.02):
            receipts = []
            for event in events:
                key = event.key.decode()
                receipts.append(await publish(FEEDBACK_ROUTED, key, event.value))
                receipts.append(await publish(queue_topic("water"), key, event.value))
            await commit_processed(app, stream, events, receipts)

    await app.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(forward(sys.argv[1]))
