"""Gauges computed from the fold's state when Prometheus scrapes (open, overdue, the 三率)."""

from collections import Counter as Tally
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from services.metrics.fold import EventFold

OPEN_STATES = {"routed", "accepted", "reopened", "returned", "triage"}


class Gauges(Collector):
    """Gauges computed from the fold's state at scrape time."""

    def __init__(self, fold: "EventFold") -> None:
        self._fold = fold

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._fold.lock:
            families = list(self._families(self._fold))
        yield from families

    def _families(self, fold: "EventFold") -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        yield GaugeMetricFamily(
            "feedbackloop_triage_backlog",
            "Items waiting at the dispatch desk (人工分派).",
            value=len(fold.triage),
        )
        open_ = GaugeMetricFamily(
            "feedbackloop_tickets_open",
            "Tickets not yet resolved, by state (one of five: a bounded label).",
            labels=["department", "priority", "state"],
        )
        overdue = GaugeMetricFamily(
            "feedbackloop_tickets_overdue",
            "Open tickets past their resolution deadline.",
            labels=["department"],
        )
        opened = Tally[tuple[str, str, str]]()
        late = Tally[str]()
        for ticket in fold.tickets.values():
            if ticket.state in OPEN_STATES:
                opened[(ticket.department, ticket.priority, ticket.state)] += 1
                if ticket.due_at is not None and ticket.due_at <= now:
                    late[ticket.department] += 1
        for labels, n in sorted(opened.items()):
            open_.add_metric(list(labels), n)
        for department, n in sorted(late.items()):
            overdue.add_metric([department], n)
        yield open_
        yield overdue
        yield from self._rates(fold)
        yield self._direct_answer_rate(fold)
        if fold.lag is not None:
            yield GaugeMetricFamily(
                "feedbackloop_consumer_lag_records",
                "Records on the pipeline topics not yet processed by the services.",
                value=fold.lag,
            )

    @staticmethod
    def _rates(fold: "EventFold") -> Iterator[GaugeMetricFamily]:
        response = GaugeMetricFamily(
            "feedbackloop_response_rate", "响应率 (0-1).", labels=["department"]
        )
        resolution = GaugeMetricFamily(
            "feedbackloop_resolution_rate", "解决率 (0-1).", labels=["department"]
        )
        satisfaction = GaugeMetricFamily(
            "feedbackloop_satisfaction_rate", "满意率 (0-1).", labels=["department"]
        )
        for rates in fold.book.department_rates(fold.names):
            for family, value in (
                (response, rates.response_rate),
                (resolution, rates.resolution_rate),
                (satisfaction, rates.satisfaction_rate),
            ):
                if value is not None:
                    family.add_metric([rates.department], value)
        yield response
        yield resolution
        yield satisfaction

    @staticmethod
    def _direct_answer_rate(fold: "EventFold") -> GaugeMetricFamily:
        """直接答复率 = direct answers / consultations, per channel and over all channels."""
        rate = GaugeMetricFamily(
            "feedbackloop_direct_answer_rate",
            "直接答复率 (0-1): consultations answered directly / consultations taken; "
            "channel 'all' sums the channels.",
            labels=["channel"],
        )
        asked, answered = fold.consultations, fold.direct_answers
        for channel in sorted(asked):
            rate.add_metric([channel], min(answered[channel] / asked[channel], 1.0))
        if asked:
            rate.add_metric(["all"], min(answered.total() / asked.total(), 1.0))
        return rate
