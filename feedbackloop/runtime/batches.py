"""A consumer-group loop that processes Kafka records in batches, on aiokafka directly.

faust takes every record through its stream machinery (an event object, a channel queue,
acks and sensors per record); for the router that cost about as much CPU as routing itself
and kept one process far below 2,000 items a second. `BatchLoop` hands whole batches to a
handler instead, in three overlapping steps:

    fetch ─► prepare (worker thread) ─► handle (event loop, in order) ─► publish ─► commit

- `prepare` is work on a batch that needs no shared state (decoding, the model): the
  numpy parts release the GIL, so it runs on another core while the loop handles the batch
  before it.
- `handle` owns the service's state and returns the records to publish. It may also
  publish and wait for delivery itself (the router's returns do, before updating a row).
- A batch's records are handed to the producer, and its offsets committed, in the background
  while the next batch is handled. The offsets are committed once the broker has all of its
  records, in the order the batches were read. Delivery is therefore at least once: a crash
  replays at most the batches in flight, and their records come again with the same event ids.
- If handling, publishing or delivery fails, everything in flight is dropped and every
  partition goes back to its first offset not committed, after a pause that grows while the
  failures go on: a broker outage or a locked database is waited out, nothing read is lost.
- In a rebalance, partitions are handed on only once everything read from them is
  committed, so the next owner does not route the same items again.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.producer import Output

log = logging.getLogger(__name__)


class Record(Protocol):
    """What a handler reads of a Kafka record (aiokafka's ConsumerRecord has all of it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class BatchHandler(Protocol):
    """Processes the records of one topic, a batch at a time."""

    def prepare(self, records: list[Record]) -> Any:
        """Work on a batch that touches no shared state; runs in a worker thread."""
        ...

    async def handle(self, prepared: Any) -> list[Output]:
        """Act on a prepared batch (batches in the order read); the records to publish."""
        ...


class Consumer(Protocol):
    """The part of aiokafka's AIOKafkaConsumer the loop uses."""

    def subscribe(self, topics: Sequence[str], *, listener: ConsumerRebalanceListener) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]: ...
    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...


class Reader(Consumer, Protocol):
    """What a loop without a consumer group also needs: to assign itself every partition."""

    async def beginning_offsets(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]: ...
    def partitions_for_topic(self, topic: str) -> set[int] | None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool: ...


class Publisher(Protocol):
    """The part of `KafkaPublisher` the loop uses."""

    async def send_many(self, outputs: Sequence[Output]) -> list[Awaitable[Any]]: ...


def _driver_error(exc: BaseException) -> BaseException | None:
    """The database driver's exception under a SQLAlchemy DBAPIError, if it is one."""
    cause = getattr(exc, "orig", None)
    return cause if isinstance(cause, BaseException) else None


def describe(exc: BaseException) -> str:
    """Why a record or a batch could not be processed, for dead letters, logs and /healthz.

    For a database error, the kind and the driver's first line: SQLAlchemy's own message
    adds the statement's parameters, which hold the citizen's words.
    """
    cause = _driver_error(exc)
    if cause is not None:
        lines = str(cause).strip().splitlines()
        detail = lines[0] if lines else ""
        return f"{type(exc).__name__} ({type(cause).__name__}): {detail}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:2000]


def dead_letter_output(*, consumer: str, record: Record, reason: str) -> Output:
    """The record that parks an unprocessable one on feedback.dlq with the reason."""
    # The kind of error only: its details may quote the record (a citizen's words).
    log.warning(
        "%s dead-lettering %s[%s]@%s: %s",
        consumer,
        record.topic,
        record.partition,
        record.offset,
        reason.split(":", 1)[0],
    )
    key, value = dead_letter(
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        error=reason,
    )
    return Output(DEAD_LETTER, key, value)


@dataclass
class _Batch:
    """Records of one topic read together, being prepared, and where they end."""

    handler: BatchHandler
    prepared: "asyncio.Future[Any]"
    #: Per partition, the offset after the batch's last record (what a commit stores).
    ends: dict[TopicPartition, int]


@dataclass
class _Sent:
    """A handled batch whose records are on their way to the broker."""

    #: Handing the records over, which resolves to their receipts.
    handing: "asyncio.Future[list[Awaitable[Any]]]"
    ends: dict[TopicPartition, int]


@dataclass
class LoopStatus:
    """What the loop reports for health checks and metrics."""

    batches: int = 0
    records: int = 0
    failures: int = 0
    last_error: str | None = None
    crashed: bool = False
    rebalances: int = 0
    retry_in: float = 0.0


class BatchLoop:
    """Runs handlers over the topics they are registered for, in one consumer group."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        publisher: Publisher,
        handlers: Mapping[str, BatchHandler],
        batch_size: int = 500,
        fetch_timeout_ms: int = 500,
        first_backoff: float = 0.5,
        longest_backoff: float = 30.0,
        handover_timeout: float = 30.0,
        grouped: bool = True,
    ) -> None:
        self._consumer = consumer
        # Without a group (metrics folds the whole log in every replica) the loop assigns
        # itself every partition from the beginning and commits nothing.
        self._grouped = grouped
        self._publisher = publisher
        self._handlers = dict(handlers)
        self._batch_size = batch_size
        self._fetch_timeout_ms = fetch_timeout_ms
        self._first_backoff = first_backoff
        self._longest_backoff = longest_backoff
        self._handover_timeout = handover_timeout
        # One batch waits while the one before it is handled; the fetcher may hold a third.
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=1)
        # Per partition, where to read again after a failure: the end of the last batch
        # committed, or the first offset read if none was committed since the assignment.
        self._restart_at: dict[TopicPartition, int] = {}
        self._open = 0  # batches read and not yet committed (or dropped)
        self._idle = asyncio.Event()
        self._idle.set()
        self._fetcher: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._committing: asyncio.Task[None] | None = None
        self._stopping = False
        self.status = LoopStatus()

    async def start(self) -> None:
        """Join the group (or assign every partition) and start reading."""
        if self._grouped:
            self._consumer.subscribe(list(self._handlers), listener=_Handover(self))
            await self._consumer.start()
        else:
            await self._assign_everything()
        self._fetcher = self._spawn(self._fetch(), "fetch")
        self._worker = self._spawn(self._work(), "handle")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop reading, finish and commit the batches in hand (within `timeout`), leave."""
        self._stopping = True
        await _cancel(self._fetcher)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        await _cancel(self._worker)
        try:
            await self._consumer.stop()
        except Exception as exc:  # never started, or the broker is gone: nothing to hand back
            log.debug("consumer stop: %s", exc)

    async def _assign_everything(self) -> None:
        reader: Any = self._consumer
        await reader.start()
        # The client learns a topic's partitions only once asked about one of them: looking up
        # the first offset of each topic's partition 0 makes it fetch their metadata.
        await reader.beginning_offsets([TopicPartition(topic, 0) for topic in self._handlers])
        partitions = [
            TopicPartition(topic, number)
            for topic in self._handlers
            for number in sorted(reader.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            raise KafkaError(f"none of {sorted(self._handlers)} has partitions yet")
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)

    def lag(self) -> int | None:
        """Records on the broker that this process has not handled and committed yet.

        From the high-water marks of the last fetches; None until every assigned partition
        has been fetched from once.
        """
        total = 0
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is None:
                return None
            total += max(end - self._restart_at.get(tp, end), 0)
        return total

    def _spawn(self, work: Any, name: str) -> "asyncio.Task[None]":
        task: asyncio.Task[None] = asyncio.create_task(work, name=f"batch-loop-{name}")
        task.add_done_callback(self._watch)
        return task

    def _watch(self, task: "asyncio.Task[None]") -> None:
        if task.cancelled() or self._stopping:
            return
        self.status.crashed = True
        log.error("the batch loop's %s task died", task.get_name(), exc_info=task.exception())

    async def _fetch(self) -> None:
        pause = self._first_backoff
        while True:
            try:
                fetched = await self._consumer.getmany(
                    timeout_ms=self._fetch_timeout_ms, max_records=self._batch_size
                )
            except KafkaError as exc:  # the client retries by itself; this is what outlasted it
                self.status.failures += 1
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("fetching failed, trying again in %.1f s: %s", pause, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self._longest_backoff)
                continue
            pause = self._first_backoff
            by_topic: dict[str, dict[TopicPartition, list[Any]]] = {}
            for tp, records in fetched.items():
                if records:
                    by_topic.setdefault(tp.topic, {})[tp] = records
                    self._restart_at.setdefault(tp, records[0].offset)
            for topic, parts in by_topic.items():
                handler = self._handlers[topic]
                records = [record for part in parts.values() for record in part]
                ends = {tp: part[-1].offset + 1 for tp, part in parts.items()}
                prepared = asyncio.ensure_future(asyncio.to_thread(handler.prepare, records))
                self._opened()
                try:
                    await self._queue.put(_Batch(handler, prepared, ends))
                except asyncio.CancelledError:
                    self._closed()
                    prepared.cancel()
                    raise
                self.status.records += len(records)

    async def _work(self) -> None:
        previous: _Sent | None = None
        current: _Sent | None = None
        backoff = self._first_backoff
        while True:
            try:
                if previous is not None and self._queue.empty():
                    # Nothing else to overlap with: commit the last batch now.
                    await self._settle(previous)
                    previous = None
                batch = await self._queue.get()
                outputs = await batch.handler.handle(await batch.prepared)
                # Handed over in the background: a partition whose previous batch is still
                # on its way holds up only itself, not the next batch's routing.
                current = _Sent(
                    asyncio.ensure_future(self._publisher.send_many(outputs)), batch.ends
                )
                if previous is not None:
                    # Delivered while this batch was handled, usually: now commit it.
                    await self._settle(previous)
                previous, current = current, None
                self.status.batches += 1
                backoff = self._first_backoff
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                for dropped in (previous, current):
                    if dropped is not None:
                        dropped.handing.cancel()
                previous = current = None
                await self._rewind(exc, backoff)
                backoff = min(backoff * 2, self._longest_backoff)

    async def _settle(self, sent: _Sent) -> None:
        """Wait until the broker has a batch's records, then commit its offsets.

        The commit goes out in the background, after the ones before it: the next batch
        need not wait for the coordinator's answer.
        """
        await asyncio.gather(*await sent.handing)
        self._restart_at.update(sent.ends)
        self._committing = asyncio.create_task(self._commit(sent.ends, after=self._committing))

    async def _commit(
        self, ends: dict[TopicPartition, int], *, after: "asyncio.Task[None] | None"
    ) -> None:
        if after is not None:
            with contextlib.suppress(Exception):
                await after
        if not self._grouped:
            self._closed()
            return
        try:
            await self._consumer.commit(ends)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved the partitions on; their new owner reads from the last
            # commit and its consumers drop what comes twice (same event ids).
            log.warning("could not commit a delivered batch (%s); it may be replayed", exc)
        except KafkaError as exc:
            # Delivered, not committed: a later commit covers it, or a restart replays it.
            log.warning("committing a delivered batch failed (%s)", exc)
        finally:
            self._closed()

    async def _rewind(self, exc: Exception, pause: float) -> None:
        """Drop everything in flight and read again from the first offsets not committed."""
        self.status.failures += 1
        reason = describe(exc)
        self.status.last_error = reason
        self.status.retry_in = pause
        level = logging.WARNING if isinstance(exc, KafkaError | OSError) else logging.ERROR
        # A store error's own text (and its traceback's) quotes the statement's parameters,
        # i.e. citizens' words: for those the driver's reason alone.
        trace = None if _driver_error(exc) is not None else exc
        log.log(level, "batch failed, reading again in %.1f s: %s", pause, reason, exc_info=trace)
        await _cancel(self._fetcher)
        if self._committing is not None:
            with contextlib.suppress(Exception):
                await self._committing
        while not self._queue.empty():
            self._queue.get_nowait().prepared.cancel()
        assigned = self._consumer.assignment()
        for tp, offset in self._restart_at.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)
        self._open = 0
        self._idle.set()
        await asyncio.sleep(pause)
        self.status.retry_in = 0.0
        if not self._stopping:
            self._fetcher = self._spawn(self._fetch(), "fetch")

    def _opened(self) -> None:
        self._open += 1
        self._idle.clear()

    def _closed(self) -> None:
        self._open = max(self._open - 1, 0)
        if self._open == 0:
            self._idle.set()

    async def hand_over(self) -> None:
        """Wait until every batch read so far is committed (before partitions move on)."""
        self.status.rebalances += 1
        try:
            await asyncio.wait_for(self._idle.wait(), self._handover_timeout)
        except TimeoutError:
            log.warning("rebalance: batches still in flight after %s s", self._handover_timeout)

    def forget(self) -> None:
        """After an assignment: positions start at the committed offsets again."""
        self._restart_at.clear()


class _Handover(ConsumerRebalanceListener):
    """Commits what was read before a rebalance hands partitions to another member."""

    def __init__(self, loop: BatchLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.hand_over()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._loop.forget()


async def _cancel(task: "asyncio.Task[None] | None") -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
