"""A service's Kafka side: one publisher and one batch loop, connected in the background.

Every per-item consumer (the router's agents, followup's ticket opening and notifications,
intake's status read model, metrics' fold) runs as a `ConsumerService`: the same connection
retries while the broker is away, the same batch loop (`BatchLoop`: batches, commits after
the effect, one backoff policy), the same `/healthz` fields and the same Prometheus series,
labelled by consumer:

- `feedbackloop_consumer_batches_total`, `..._records_total`, `..._failures_total`,
  `..._rebalances_total`: the loop's progress and its read-again-after-a-pause failures;
- `feedbackloop_consumer_pending_records`: records on the broker not yet handled and
  committed here;
- `feedbackloop_consumer_up`: 1 while the loop runs, 0 while connecting or dead.

One producer per process: the service's `KafkaPublisher` (passed in when its handlers publish
too, as the router's returns do) carries the loop's outputs, dead letters included, and is
started and stopped with the loop.
"""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from feedbackloop.runtime.batches import BatchHandler, BatchLoop, LoopStatus
from feedbackloop.runtime.producer import KafkaPublisher
from feedbackloop.runtime.topics import ensure_topics

log = logging.getLogger(__name__)


class Service(Protocol):
    """Anything that starts and stops with a web app (a service's Kafka side)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def lifespan_of(*services: Service) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """An ASGI lifespan that starts services with the web app and stops them after."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for service in services:
                await service.start()
                stack.push_async_callback(service.stop)
            yield

    return lifespan


def freeze_heap(*, young_objects: int = 20_000) -> None:
    """Keep CPython's cyclic garbage collector from walking the long-lived heap all the time.

    A batch service allocates many short-lived objects (events, lists), so collections run
    often, and every full one walks every object the process holds: the imported libraries,
    the model, the store's mappers. Freezing what exists after start-up takes it out of those
    walks, and a larger first generation lets a batch's objects die before a collection
    promotes them. Cycles are still collected, only less often.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_objects, older, oldest)


class ConsumerService:
    """One consumer group (or, with `group=None`, a reader of every partition) and its loop."""

    def __init__(
        self,
        *,
        name: str,
        bootstrap: str,
        handlers: Mapping[str, BatchHandler],
        group: str | None,
        publisher: KafkaPublisher | None = None,
        topics: Sequence[str] = (),
        partitions: int = 6,
        batch_size: int = 500,
        session_timeout_ms: int = 15_000,
    ) -> None:
        self.name = name
        self._bootstrap = bootstrap
        self._handlers = dict(handlers)
        self._group = group
        self.publisher = publisher or KafkaPublisher(bootstrap=bootstrap, client_id=name)
        #: Topics made (if missing) before the loop starts: read and written ones.
        self._topics = list(dict.fromkeys([*self._handlers, *topics]))
        self._partitions = partitions
        self._batch_size = batch_size
        self._session_timeout_ms = session_timeout_ms
        self.loop: BatchLoop | None = None
        self.waiting_for: str | None = None
        self._starting: asyncio.Task[None] | None = None

    def _new_loop(self) -> BatchLoop:
        # aiokafka's clients need the running event loop: made here, not at import.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap.split(","),
            group_id=self._group,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Outboxes publish in Kafka transactions; aborted records are never read.
            isolation_level="read_committed",
            # A replica that dies hands its partitions on after this long.
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 5, 100),
        )
        return BatchLoop(
            consumer=consumer,
            publisher=self.publisher,
            handlers=self._handlers,
            batch_size=self._batch_size,
            grouped=self._group is not None,
        )

    async def start(self) -> None:
        """Connect in the background, retrying until the broker answers."""
        self._starting = asyncio.create_task(self._connect(), name=f"{self.name}-connect")

    async def _connect(self) -> None:
        pause = 0.5
        while True:
            loop = self._new_loop()
            try:
                if self._topics:
                    await ensure_topics(self._bootstrap, self._topics, partitions=self._partitions)
                await self.publisher.start()
                await loop.start()
            except Exception as exc:  # the broker is not there yet: keep trying
                self.waiting_for = f"Kafka at {self._bootstrap}: {type(exc).__name__}: {exc}"
                log.warning("%s waiting for %s", self.name, self.waiting_for)
                await loop.stop()
                await self.publisher.stop()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            self.waiting_for = None
            self.loop = loop
            return

    async def stop(self) -> None:
        """Finish the batches in hand, then disconnect."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self.loop is not None:
            await self.loop.stop()
        await self.publisher.stop()

    @property
    def running(self) -> bool:
        """True while the loop reads (connected, and none of its tasks died)."""
        return self.loop is not None and not self.loop.status.crashed

    def health(self) -> dict[str, Any]:
        """What /healthz says about this consumer."""
        if self.loop is None:
            return {"status": "starting", "kafka": self.waiting_for or "connecting"}
        status = self.loop.status
        return {
            "status": "failed" if status.crashed else "ok",
            "kafka": "connected",
            "batches": status.batches,
            "records": status.records,
            "failures": status.failures,
            "last_error": status.last_error,
            "retry_in_seconds": status.retry_in,
            "rebalances": status.rebalances,
            "lag": self.loop.lag(),
        }


class ConsumerCollector(Collector):
    """The same Prometheus series for every consumer of a process, labelled by consumer."""

    def __init__(self, *services: ConsumerService) -> None:
        self._services = services

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        families = {
            "batches": CounterMetricFamily(
                "feedbackloop_consumer_batches",
                "Batches this consumer handled, handed to the broker and committed.",
                labels=["consumer"],
            ),
            "records": CounterMetricFamily(
                "feedbackloop_consumer_records",
                "Records this consumer read (a record read again after a failure counts again).",
                labels=["consumer"],
            ),
            "failures": CounterMetricFamily(
                "feedbackloop_consumer_failures",
                "Batches that failed (broker or store unavailable) and were read again after "
                "a pause; nothing is lost, but a steady rise means the consumer is stuck.",
                labels=["consumer"],
            ),
            "rebalances": CounterMetricFamily(
                "feedbackloop_consumer_rebalances",
                "Times this consumer handed its partitions over in a group rebalance.",
                labels=["consumer"],
            ),
        }
        lag = GaugeMetricFamily(
            "feedbackloop_consumer_pending_records",
            "Records on the broker this consumer has not handled and committed yet.",
            labels=["consumer"],
        )
        up = GaugeMetricFamily(
            "feedbackloop_consumer_up",
            "1 while this consumer's loop reads, 0 while it connects or after it died.",
            labels=["consumer"],
        )
        for service in self._services:
            status = service.loop.status if service.loop is not None else LoopStatus()
            for field, family in families.items():
                family.add_metric([service.name], getattr(status, field))
            behind = service.loop.lag() if service.loop is not None else None
            if behind is not None:
                lag.add_metric([service.name], behind)
            up.add_metric([service.name], 1.0 if service.running else 0.0)
        yield from families.values()
        yield lag
        yield up
