"""Intake's own Prometheus metrics (the business figures live in the metrics service)."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge


class IntakeMetrics:
    """Counters and gauges of one intake process, in a registry of its own."""

    def __init__(self, *, pending: Callable[[], float], published: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "feedbackloop_intake_accepted_total",
            "Items accepted by intake, by channel.",
            ["channel"],
            registry=self.registry,
        )
        outbox = Gauge(
            "feedbackloop_intake_outbox_pending",
            "Accepted items not yet acknowledged by Kafka.",
            registry=self.registry,
        )
        outbox.set_function(pending)
        relayed = Gauge(
            "feedbackloop_intake_outbox_published",
            "Items this process has published to Kafka since it started.",
            registry=self.registry,
        )
        relayed.set_function(published)
