"""faust stream apps with the project's defaults, a raw publisher, dead letters, lifespans."""

import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import faust
from fastapi import FastAPI

from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER

log = logging.getLogger(__name__)


def create_stream_app(
    app_id: str,
    *,
    bootstrap: str,
    partitions: int,
    guarantee: Literal["exactly_once", "at_least_once"],
) -> faust.App:
    """A faust app on our broker(s): raw bytes in and out, no web server, memory store."""
    # Tables live in memory; faust still wants a folder, which would otherwise be the cwd.
    datadir = Path(tempfile.gettempdir()) / "feedbackloop-faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    # Under exactly-once, faust's timer commits the open transactions whenever it fires,
    # also halfway through a batch: outputs sent so far are committed, the batch's offsets
    # (acked when the batch ends) are not, and a crash then replays the batch and
    # publishes its first half twice. Agents commit between batches instead
    # (`commit_processed`); the timer is only a backstop.
    commits: dict[str, Any] = (
        {"broker_commit_interval": 3600.0, "broker_commit_every": 10**9}
        if guarantee == "exactly_once"
        else {}
    )
    return faust.App(
        app_id,
        broker="kafka://" + bootstrap.replace(",", ";"),
        processing_guarantee=guarantee,
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
        **commits,
    )


async def commit_processed(app: faust.App, stream: Any, events: list[Any]) -> None:
    """Ack events whose outputs have all been sent, and commit: a transaction boundary."""
    for event in events:
        await stream.ack(event)
    await app.consumer.commit()


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

    async def __call__(self, topic: str, key: str, value: bytes) -> None:
        await self.topic(topic).send(key=key.encode(), value=value)


def raw_topic(app: faust.App, *names: str) -> Any:
    """A source topic (or several) whose records the agents decode themselves."""
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


def stream_lifespan(
    stream_app: faust.App,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """An ASGI lifespan that starts the stream app with the web app and stops it after."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await stream_app.start()
        try:
            yield
        finally:
            await stream_app.stop()

    return lifespan


async def publish_dead_letter(
    publish: Callable[[str, str, bytes], Awaitable[Any]], *, consumer: str, event: Any, reason: str
) -> None:
    """Park a faust stream event on feedback.dlq with the reason, so the stream goes on."""
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
    await publish(DEAD_LETTER, letter_key, letter)
