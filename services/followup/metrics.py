"""Followup's own process metrics (the business figures come from the metrics service)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.followup.models import OutboxMessage


@dataclass
class Tally:
    """What this process has done, counted where it happens."""

    #: Routing decisions that opened (or re-routed) a ticket in this process.
    applied: int = 0


class _FollowupCollector(Collector):
    def __init__(
        self, sessions: sessionmaker[Session], fired: Callable[[], int], tally: Tally
    ) -> None:
        self._sessions = sessions
        self._fired = fired
        self._tally = tally

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._sessions() as session:
            stmt = select(func.count()).where(OutboxMessage.sent_at.is_(None))
            pending = session.execute(stmt).scalar_one()
        yield GaugeMetricFamily(
            "feedbackloop_followup_outbox_pending",
            "Ticket events committed but not yet acknowledged by Kafka.",
            value=pending,
        )
        yield CounterMetricFamily(
            "feedbackloop_followup_clock_moments_fired",
            "Clock moments (warnings, deadlines, survey timers) fired by this process.",
            value=self._fired(),
        )
        yield CounterMetricFamily(
            "feedbackloop_followup_routings_applied",
            "Routing decisions this process applied to the ticket store (duplicates excluded).",
            value=self._tally.applied,
        )


def create_registry(
    sessions: sessionmaker[Session], fired: Callable[[], int], tally: Tally
) -> CollectorRegistry:
    """A registry with followup's process metrics."""
    registry = CollectorRegistry()
    registry.register(_FollowupCollector(sessions, fired, tally))
    return registry
