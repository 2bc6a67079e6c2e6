"""Reading the whole log into the fold: every partition of every topic, from the beginning.

The fold is a `BatchHandler` run by the shared consumer runtime (`ConsumerService` with no
consumer group, so `BatchLoop` assigns itself every partition from the beginning and commits
nothing). On every start the service folds the log from its first record, so right after a
restart the totals are the log's totals again; replicas each fold everything and expose the
same values (dashboards take the max across instances, never the sum). Duplicates (a relay
resending after a crash) are dropped by event id in the fold; a record read twice by this
process (after its loop started over) is dropped by offset.

A record the fold cannot take (a bug, or an event no contract check caught) is skipped and
counted, so one bad record never stops the figures. Until the loop reads, or while it pauses
after a failure, the reader is not `healthy` and the service answers 503 rather than serve
figures that have stopped moving.

Beside the loop, a watcher (`services.metrics.offsets`) learns where the log ended when the
reader started (`caught_up` once all of it is folded), exports the pipeline's consumer lag,
and starts the loop again when a topic gains partitions, so the new ones are read too.
"""

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Counter

from feedbackloop.events import Envelope, InvalidEvent, decode
from feedbackloop.events.topics import (
    DEAD_LETTER,
    FEEDBACK_HOTSPOTS,
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
)
from feedbackloop.runtime.batches import Record
from feedbackloop.runtime.consumers import ConsumerCollector, ConsumerService
from feedbackloop.runtime.producer import Output
from services.metrics.fold import EventFold
from services.metrics.offsets import LogWatch

log = logging.getLogger(__name__)

TOPICS = (FEEDBACK_RECEIVED, FEEDBACK_ROUTED, TICKET_EVENTS, FEEDBACK_HOTSPOTS, DEAD_LETTER)
#: The name of metrics' consumer in logs, client ids and the feedbackloop_consumer_* series.
CONSUMER = "feedbackloop-metrics"

Prepared = list[tuple[Record, Envelope[Any] | None]]


class FoldBatch:
    """Folds batches of records into an `EventFold` (the loop's handler for every topic)."""

    def __init__(self, fold: EventFold) -> None:
        self._fold = fold
        #: Per partition, the offset after the last record folded.
        self.positions: dict[TopicPartition, int] = {}
        self.folded = 0
        self.skipped = 0
        self.caught_up = False
        self._aim: dict[TopicPartition, int] | None = None
        self._skipped = Counter(
            "feedbackloop_metrics_unfoldable_records",
            "Records the metrics fold could not take and skipped (see the service's log).",
            registry=fold.registry,
        )

    def prepare(self, records: list[Record]) -> Prepared:
        """Decode a batch (in a worker thread); records folded before are left out."""
        positions = self.positions
        prepared: Prepared = []
        for record in records:
            if record.offset < positions.get(TopicPartition(record.topic, record.partition), 0):
                continue
            try:
                event: Envelope[Any] | None = decode(record.value)
            except InvalidEvent:
                event = None  # producers dead-letter their own bad output; counting goes on
            prepared.append((record, event))
        return prepared

    async def handle(self, prepared: Prepared) -> list[Output]:
        """Fold a decoded batch; it publishes nothing."""
        self.fold_batch(prepared)
        return []

    def fold_batch(self, prepared: Prepared) -> None:
        """Fold the events of a decoded batch in order, each record at most once."""
        positions = self.positions
        for record, event in prepared:
            tp = TopicPartition(record.topic, record.partition)
            # Read again after the loop started over: folded already.
            if record.offset < positions.get(tp, 0):
                continue
            positions[tp] = record.offset + 1
            self.folded += 1
            if event is not None:
                self._fold_one(record, event)
        if not self.caught_up:
            self._check_caught_up()

    def _fold_one(self, record: Record, event: Envelope[Any]) -> None:
        try:
            self._fold.apply(event)
        except Exception as exc:
            # The kind of error and where, never the record (it may hold a citizen's words).
            log.error(
                "could not fold %s[%d] offset %d (%s): skipped",
                record.topic,
                record.partition,
                record.offset,
                type(exc).__name__,
            )
            self.skipped += 1
            self._skipped.inc()

    def aim_at(self, ends: dict[TopicPartition, int]) -> None:
        """Where the log ended at start: caught up once every partition is folded that far."""
        self._aim = ends
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if self._aim is None:
            return
        if all(self.positions.get(tp, 0) >= end for tp, end in self._aim.items()):
            self.caught_up = True
            log.info("metrics caught up with the log (%d records)", self.folded)


class LogReader:
    """The metrics service's Kafka side: the fold in a consumer loop, and its watcher."""

    def __init__(
        self,
        *,
        bootstrap: str,
        fold: EventFold,
        partitions: int = 6,
        batch_size: int = 500,
        watch_interval: float = 10.0,
    ) -> None:
        self.handler = FoldBatch(fold)
        self.service = ConsumerService(
            name=CONSUMER,
            bootstrap=bootstrap,
            handlers=dict.fromkeys(TOPICS, self.handler),
            group=None,
            partitions=partitions,
            batch_size=batch_size,
        )
        self._watch = LogWatch(
            bootstrap=bootstrap,
            client_id=CONSUMER,
            topics=TOPICS,
            handler=self.handler,
            fold=fold,
            connected=lambda: self.connected,
            restart=self._restart,
            interval=watch_interval,
        )
        self._watcher: asyncio.Task[None] | None = None
        fold.registry.register(ConsumerCollector(self.service))

    async def start(self) -> None:
        """Connect and fold in the background (retrying until the broker answers)."""
        await self.service.start()
        self._watcher = asyncio.create_task(self._watch.run(), name=f"{CONSUMER}-watch")

    async def stop(self) -> None:
        """Stop the watcher, then the loop after the batch in hand."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.service.stop()

    async def _restart(self) -> None:
        # A new loop assigns itself every partition from the beginning; the handler drops
        # by offset what it folded before, so nothing is counted twice.
        await self.service.stop()
        await self.service.start()

    @property
    def caught_up(self) -> bool:
        """True once every record that was on the log when the reader started is folded."""
        return self.handler.caught_up

    @caught_up.setter
    def caught_up(self, value: bool) -> None:
        self.handler.caught_up = value

    @property
    def folded(self) -> int:
        """Records read and folded (or skipped) since the process started."""
        return self.handler.folded

    @property
    def skipped(self) -> int:
        """Records the fold could not take."""
        return self.handler.skipped

    @property
    def connected(self) -> bool:
        """True once the loop has connected and assigned itself the log."""
        return self.service.loop is not None

    def alive(self) -> bool:
        """True while the loop reads (connected, none of its tasks died)."""
        return self.service.running

    @property
    def failure(self) -> str | None:
        """Why the loop is pausing before it reads a batch again (None while it reads)."""
        loop = self.service.loop
        if loop is None or not loop.status.retry_in:
            return None
        return (loop.status.last_error or "failed").split(":", 1)[0]

    def healthy(self) -> bool:
        """True while the loop reads and is not pausing after a failure."""
        return self.alive() and self.failure is None

    def why_not_reading(self) -> str | None:
        """What /healthz says when the reader is not healthy."""
        if self.healthy():
            return None
        if not self.alive():
            if not self.connected:
                return "the log reader is waiting for Kafka"
            return "the log reader has stopped"
        return self.failure
