"""The router's own Prometheus metrics."""

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from feedbackloop.runtime.batches import LoopStatus


class RouterMetrics:
    """Counters of one router process, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.routed = Counter(
            "feedbackloop_router_routed_total",
            "Items this router process routed, by department and method.",
            ["department", "method"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "feedbackloop_router_dead_letters_total",
            "Messages the router could not process and sent to the dead-letter topic.",
            registry=self.registry,
        )
        self.copies_dropped = Counter(
            "feedbackloop_router_copies_dropped_total",
            "Items read a second time at another offset (intake's relay is at least once).",
            registry=self.registry,
        )

    def watch(self, status: Callable[[], LoopStatus | None]) -> None:
        """Expose the batch loop's progress and failures (read when scraped)."""
        self.registry.register(_LoopCollector(status))


class _LoopCollector(Collector):
    def __init__(self, status: Callable[[], LoopStatus | None]) -> None:
        self._status = status

    def collect(self) -> Iterator[CounterMetricFamily]:
        status = self._status() or LoopStatus()
        yield CounterMetricFamily(
            "feedbackloop_router_batches",
            "Batches this router process handled and handed to the broker.",
            value=status.batches,
        )
        yield CounterMetricFamily(
            "feedbackloop_router_batch_failures",
            "Batches that failed (broker or store unavailable) and were read again after a "
            "pause; nothing is lost, but a steady rise means the router is stuck.",
            value=status.failures,
        )
