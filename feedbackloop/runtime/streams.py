"""faust stream apps with the project's defaults, a raw publisher and dead letters.

followup runs its agents on faust; the router, whose volume faust's per-record machinery
could not carry, runs on `feedbackloop.runtime.batches` instead.

Delivery is at least once. faust's `exactly_once` runs Kafka transactions only inside its own
`Worker`, which these services do not use (they run faust inside an ASGI app), so asking for
it changes nothing. Instead an agent's effects are stored (followup writes them to its outbox)
or delivered (a dead letter waits for the broker) before faust acks the event, every derived
event has a deterministic id, and consumers drop an event whose id they have seen (a crash
before the commit replays the event, and its outputs come again with the same ids).

An agent hands each event's work to `settle`: a store that is locked or unreachable for a
while is waited for (with backoff), anything else that fails goes to `feedback.dlq` with the
reason, and the agent takes the next event. An exception never leaves an agent: faust would
stop consuming its topic, silently, until the process restarts.
"""

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import faust
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.producer import Publish, delivered

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    While the broker refuses it, it is tried again (the event must not be acked unparked).
    """
    message = event.message
    # The kind of error only: its details may quote the event (a citizen's words).
    log.warning(
        "%s dead-lettering %s offset %s: %s",
        consumer,
        message.tp,
        message.offset,
        reason.split(":", 1)[0],
    )
    letter_key, letter = dead_letter(
        consumer=consumer,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=event.key,
        value=event.value,
        error=reason,
    )
    async for attempt in AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=0.2, max=10), before_sleep=_log_retry(consumer)
    ):
        with attempt:
            await delivered([await publish(DEAD_LETTER, letter_key, letter)])


def transient_store_error(exc: BaseException) -> bool:
    """True for store errors that pass: a locked SQLite file, a lost or refused PostgreSQL
    connection, a deadlock or serialisation failure, an exhausted connection pool."""
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def describe(exc: BaseException) -> str:
    """Why an event could not be processed, for its dead letter.

    For a database error, the kind and the driver's first line: SQLAlchemy's own message
    adds the statement's parameters, which hold the citizen's words.
    """
    cause = exc.orig if isinstance(exc, DBAPIError) else None
    if cause is not None:
        lines = str(cause).strip().splitlines()
        detail = lines[0] if lines else ""
        return f"{type(exc).__name__} ({type(cause).__name__}): {detail}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:2000]


async def settle(
    event: Any,
    work: Callable[[], T],
    *,
    consumer: str,
    publish: Publish,
    retry_seconds: float = 120.0,
) -> T | None:
    """Do one stream event's (synchronous) work in a thread; its result, None if dead-lettered.

    Transient store errors are retried with exponential backoff for up to `retry_seconds`;
    any other error, or one that outlasts the retries, dead-letters the event with the
    reason (replay it with `feedbackloop dlq replay` after the fix).
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception(transient_store_error),
        wait=wait_exponential_jitter(multiplier=0.1, max=10, jitter=0.5),
        stop=stop_after_delay(retry_seconds),
        before_sleep=_log_retry(consumer),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                # The store is synchronous; keep the event loop (and the HTTP API) free.
                return await asyncio.to_thread(work)
    except Exception as exc:
        await publish_dead_letter(publish, consumer=consumer, event=event, reason=describe(exc))
    return None


def _log_retry(consumer: str) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s, attempt %d; trying again in %.1f s",
            consumer,
            type(failure).__name__,
            state.attempt_number,
            state.next_action.sleep if state.next_action else 0.0,
        )

    return log_it
