"""Folding events into Prometheus metrics (Prometheus naming: base units, `_total`)."""

from collections import OrderedDict
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    TicketEvent,
)

# Dispatch is meant to take seconds; the top buckets show the backlog when it does not.
DISPATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)


class EventFold:
    """Business metrics of the whole loop, each event counted once per process."""

    def __init__(self, *, dedup_window: int) -> None:
        self.registry = CollectorRegistry()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._window = dedup_window
        self.received = Counter(
            "feedbackloop_feedback_received_total",
            "Items accepted by intake, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.routed = Counter(
            "feedbackloop_feedback_routed_total",
            "Items assigned to a department, by department, routing method and priority.",
            ["department", "method", "priority"],
            registry=self.registry,
        )
        self.ticket_events = Counter(
            "feedbackloop_ticket_events_total",
            "Ticket lifecycle events, by kind and department.",
            ["kind", "department"],
            registry=self.registry,
        )
        self.dispatch_seconds = Histogram(
            "feedbackloop_dispatch_duration_seconds",
            "Time from intake accepting an item to the router assigning it.",
            buckets=DISPATCH_BUCKETS,
            registry=self.registry,
        )

    def apply(self, event: Envelope[Any]) -> bool:
        """Count one event; False if its id was already counted."""
        if event.id in self._seen:
            return False
        self._seen[event.id] = None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        data = event.data
        if isinstance(data, FeedbackReceived):
            self.received.labels(channel=data.channel.value).inc()
        elif isinstance(data, FeedbackRouted):
            self.routed.labels(
                department=data.department_code,
                method=data.method.value,
                priority=data.priority.value,
            ).inc()
            waited = (data.routed_at - data.feedback.received_at).total_seconds()
            self.dispatch_seconds.observe(max(waited, 0.0))
        elif isinstance(data, TicketEvent):
            self.ticket_events.labels(
                kind=data.kind.value, department=data.department_code or "none"
            ).inc()
        return True
