"""faust stream apps with the project's defaults, a raw publisher and dead letters.

followup runs its agents on faust; the router, whose volume faust's per-record machinery
could not carry, runs on `feedbackloop.runtime.batches` instead.

Delivery is at least once. faust's `exactly_once` runs Kafka transactions only inside its own
`Worker`, which these services do not use (they run faust inside an ASGI app), so asking for
it changes nothing. Instead an agent's effects are stored (followup writes them to its outbox)
or delivered (a dead letter waits for the broker) before faust acks the event, every derived
event has a deterministic id, and consumers drop an event whose id they have seen (a crash
before the commit replays the event, and its outputs come again with the same ids).
"""

import logging
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import faust

from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.producer import Publish, delivered

log = logging.getLogger(__name__)


def create_stream_app(app_id: str, *, bootstrap: str, partitions: int) -> faust.App:
    """A faust app on our broker(s): raw bytes in and out, no web server, memory store."""
    # Tables live in memory; faust still wants a folder, which would otherwise be the cwd.
    datadir = Path(tempfile.gettempdir()) / "feedbackloop-faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        app_id,
        broker="kafka://" + bootstrap.replace(",", ";"),
        processing_guarantee="at_least_once",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        autodiscover=False,
        topic_partitions=partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        # faust sends every record as soon as it is handed over; lingering 10 ms fills
        # batches, which cut the router's produce requests (and its CPU) several-fold.
        producer_linger=0.01,
        producer_max_batch_size=512 * 1024,
        consumer_auto_offset_reset="earliest",
        # A replica that dies hands its partitions on after this long, not faust's minute.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
    )


class RawPublisher:
    """Sends raw records through a faust app's producer (inside its transaction, if any)."""

    def __init__(self, app: faust.App, *, partitions: int) -> None:
        self._app = app
        self._partitions = partitions
        self._topics: dict[str, Any] = {}

    def topic(self, name: str) -> Any:
        """The faust topic object for a name, created once."""
        if name not in self._topics:
            self._topics[name] = self._app.topic(
                name, key_serializer="raw", value_serializer="raw", partitions=self._partitions
            )
        return self._topics[name]

    async def __call__(self, topic: str, key: str, value: bytes) -> Awaitable[Any]:
        """Hand a record to the producer; the receipt resolves once the broker has it."""
        # Straight to the producer: faust's Topic.send wraps every record in a
        # FutureMessage, runs its sensors and hashes the key twice, which cost a fifth of
        # the router's CPU.
        producer = await self._app.maybe_start_producer()
        receipt: Awaitable[Any] = await producer.send(topic, key.encode(), value, None, None, None)
        return receipt


def raw_topic(app: faust.App, *names: str) -> Any:
    """A source topic (or several) whose records the agents decode themselves."""
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


async def publish_dead_letter(publish: Publish, *, consumer: str, event: Any, reason: str) -> None:
    """Park a faust stream event on feedback.dlq with the reason, so the stream goes on.

    Returns once the broker has the letter: the event's offset may be committed after it.
    """
    message = event.message
    log.warning("%s dead-lettering %s: %s", consumer, message.tp, reason)
    letter_key, letter = dead_letter(
        consumer=consumer,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=event.key,
        value=event.value,
        error=reason,
    )
    await delivered([await publish(DEAD_LETTER, letter_key, letter)])
