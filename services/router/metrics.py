"""The router's own Prometheus metrics."""

from prometheus_client import CollectorRegistry, Counter

from feedbackloop.runtime.consumers import ConsumerCollector, ConsumerService


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

    def watch(self, streams: ConsumerService) -> None:
        """Expose the batch loop's progress, failures and lag (read when scraped)."""
        self.registry.register(ConsumerCollector(streams))
