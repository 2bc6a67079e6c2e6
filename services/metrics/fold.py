"""Folding the loop's events into the metrics of docs/metrics.md.

Counters and histograms are incremented as events arrive; gauges and the 三率 (three rates
Beijing assesses departments on) are computed from the folded state when Prometheus scrapes,
so they are always consistent with the counters. What the rates count, and their formulas,
is `rates.RateBook`'s: this fold tells it what happened to each ticket.
"""

import threading
from collections import Counter as Tally
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from feedbackloop.events import (
    Channel,
    DeadLetter,
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    HotspotDetected,
    RequestType,
    RoutingMethod,
    SurgeDetected,
    TicketEvent,
    TicketEventKind,
    TicketState,
)
from services.metrics.gauges import Gauges
from services.metrics.rates import CoRole, DepartmentRates, RateBook

K = TicketEventKind
#: Every SLA limit is a bucket edge (2 h, 24 h, 7 d, 15 d), so bucket/count is the share on time.
SLA_BUCKETS = (600, 1800, 3600, 7200, 14400, 43200, 86400, 172800, 259200, 604800, 1296000, 2592000)
# Dispatch is meant to take seconds; the top buckets show a backlog when it does not.
PIPELINE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)
METHOD_COUNTERS = {
    RoutingMethod.MODEL: "routed_by_model",
    RoutingMethod.RULE: "routed_by_rule",
    RoutingMethod.MANUAL: "routed_manually",
    RoutingMethod.DEFAULT: "routed_by_rule",
    RoutingMethod.TRIAGE: "routed_to_triage",
}
SATISFACTION = {
    "satisfied": "survey_satisfied",
    "basically": "survey_basically_satisfied",
    "dissatisfied": "survey_dissatisfied",
    "no_response": "survey_no_response",
}
SOLVED = {"solved": "survey_solved", "partly": "survey_partly_solved", "not": "survey_not_solved"}


#: Approved returns after which the router stops guessing and the dispatch desk decides.
BOUNCES = 2


def _code(data: TicketEvent) -> str:
    """A return's reason code as a label value (followup checks it against its taxonomy)."""
    return (data.return_code or "unknown")[:32]


@dataclass
class OpenTicket:
    """What the fold remembers of one ticket while it is open."""

    department: str
    priority: str
    state: str
    received_at: datetime
    due_at: datetime | None = None
    accepted: bool = False
    resolved: bool = False
    #: The current assignment waits for 签收; its limit ran out (counted against the department).
    awaiting_response: bool = False
    response_breached: bool = False
    #: 退单 the centre approved; at the second the router sends the ticket to the dispatch desk.
    returns: int = 0
    #: 主办/协办: the co-handling units and whether each still waits for its 签收.
    co: dict[str, CoRole] = field(default_factory=dict)


class EventFold:
    """Business metrics of the whole loop, each event counted once per process."""

    def __init__(self, *, dedup_window: int) -> None:
        self.registry = CollectorRegistry()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._window = dedup_window
        self.tickets: dict[str, OpenTicket] = {}
        self.triage: set[str] = set()
        #: The counts behind the 三率 and the scoring, per month and department.
        self.book = RateBook()
        #: 直接答复率 per channel: consultations taken and consultations answered directly.
        self.consultations: Tally[str] = Tally()
        self.direct_answers: Tally[str] = Tally()
        #: Department code -> name, as the events last named it (for people, not for labels).
        self.names: dict[str, str] = {}
        self.lag: float | None = None
        # The reader thread folds while the HTTP thread collects.
        self.lock = threading.Lock()
        self._counters: dict[str, Counter] = {}

        def counter(name: str, doc: str, labels: list[str]) -> None:
            self._counters[name] = Counter(
                f"feedbackloop_{name}", doc, labels, registry=self.registry
            )

        counter("feedback_received", "Items accepted by intake.", ["channel"])
        counter("feedback_routed", "Items routed to a department.", ["department", "priority"])
        for name in set(METHOD_COUNTERS.values()):
            counter(name, f"Routing decisions ({name.replace('_', ' ')}).", ["department"])
        counter("sla_warnings", "催办 warnings (either limit).", ["department", "priority"])
        counter("sla_breaches", "超时 breaches (either limit).", ["department", "priority"])
        for name in [*SATISFACTION.values(), *SOLVED.values()]:
            counter(name, f"Callback survey outcomes ({name}).", ["department"])
        counter(
            "survey_contacted", "Surveys saying the unit contacted the citizen.", ["department"]
        )
        counter(
            "survey_not_contacted", "Surveys saying nobody contacted the citizen.", ["department"]
        )
        counter(
            "returns_requested", "退单 asked by units, by reason code.", ["department", "reason"]
        )
        counter("returns", "退单 approved by the centre, by reason code.", ["department", "reason"])
        counter("returns_refused", "退单 refused by the centre.", ["department"])
        counter("tickets_bounced", "Tickets returned twice, sent to the dispatch desk.", [])
        counter(
            "supervision_steps",
            "督办 ladder steps tickets reached (提醒, 催办, 通报: sla.yaml's ladder).",
            ["step", "department"],
        )
        counter("consultations", "咨询: items intake took as consultations.", ["channel"])
        counter(
            "direct_answers",
            "直接答复: consultations closed with a knowledge-base article.",
            ["channel"],
        )
        # Every channel's series from the start: 直接答复率 is a ratio of increases, and a
        # channel without consultations yet must read 0, not be missing from the panel.
        for channel in Channel:
            for name in ("consultations", "direct_answers"):
                self._counters[name].labels(channel=channel.value)
        counter("hotspots", "Hotspot alerts.", ["category"])
        # By dimension only: a place or district as a label would grow without bound.
        counter("surges", "舆情预警: surges of a category, district or place.", ["dimension"])
        counter("dead_letters", "Records parked on feedback.dlq.", [])
        self.first_response = Histogram(
            "feedbackloop_first_response_seconds",
            "Time from receipt to the department accepting the ticket (签收).",
            ["department", "priority"],
            buckets=SLA_BUCKETS,
            registry=self.registry,
        )
        self.resolution = Histogram(
            "feedbackloop_resolution_seconds",
            "Time from receipt to the first resolution (办结).",
            ["department", "priority"],
            buckets=SLA_BUCKETS,
            registry=self.registry,
        )
        self.pipeline = Histogram(
            "feedbackloop_pipeline_latency_seconds",
            "Time from intake accepting an item to the router putting it on a department queue.",
            buckets=PIPELINE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(Gauges(self))

    def count(self, name: str, **labels: str) -> None:
        """Add one to a counter of the fold."""
        metric = self._counters[name]
        (metric.labels(**labels) if labels else metric).inc()

    def apply(self, event: Envelope[Any]) -> bool:
        """Fold one event in; False if its id was folded already."""
        with self.lock:
            return self._apply(event)

    def _apply(self, event: Envelope[Any]) -> bool:
        if event.id in self._seen:
            return False
        self._seen[event.id] = None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        data = event.data
        if isinstance(data, FeedbackReceived):
            self.count("feedback_received", channel=data.channel.value)
            self._consultation(data)
        elif isinstance(data, FeedbackRouted):
            self._routed(data)
        elif isinstance(data, TicketEvent):
            self._direct_answer(data)
            self._ticket(data)
        elif isinstance(data, HotspotDetected):
            self.count("hotspots", category=data.category)
        elif isinstance(data, SurgeDetected):
            self.count("surges", dimension=data.dimension.value)
        elif isinstance(data, DeadLetter):
            self.count("dead_letters")
        return True

    def rates(self) -> list[DepartmentRates]:
        """The 三率 of every department counted so far (formulas: `services.metrics.rates`)."""
        with self.lock:
            return self.book.department_rates(self.names)

    def month_tallies(self, month: str | None = None) -> dict[str, Tally[str]]:
        """Per department, the counts of one month (YYYY-MM), or of all months."""
        with self.lock:
            return self.book.month_tallies(month)

    def months(self) -> list[str]:
        """The months anything was counted in, oldest first."""
        with self.lock:
            return self.book.months()

    def _consultation(self, data: FeedbackReceived) -> None:
        """A consultation (咨询) taken: the denominator of the 直接答复率."""
        if data.request_type is RequestType.CONSULTATION:
            channel = data.channel.value
            self.consultations[channel] += 1
            self.count("consultations", channel=channel)

    def _direct_answer(self, data: TicketEvent) -> None:
        """A consultation closed at intake with an article: the numerator of the 直接答复率."""
        if data.kind is K.ANSWERED_DIRECTLY:
            channel = data.channel or "none"
            self.direct_answers[channel] += 1
            self.count("direct_answers", channel=channel)

    def _routed(self, data: FeedbackRouted) -> None:
        ticket_id = data.feedback.ticket_id
        department = data.department_code
        self.names[department] = data.department_name
        self.count(METHOD_COUNTERS[data.method], department=department)
        if data.method is RoutingMethod.TRIAGE:
            self.triage.add(ticket_id)
            return
        self.triage.discard(ticket_id)
        self.count("feedback_routed", department=department, priority=data.priority.value)
        waited = (data.routed_at - data.feedback.received_at).total_seconds()
        self.pipeline.observe(max(waited, 0.0))

    def _ticket(self, data: TicketEvent) -> None:
        department = data.department_code or "none"
        if data.department_code and data.department_name:
            self.names[department] = data.department_name
        ticket = self.tickets.get(data.ticket_id)
        if ticket is None:
            ticket = OpenTicket(department, data.priority.value, "", data.received_at)
            self.tickets[data.ticket_id] = ticket
        ticket.department, ticket.priority = department, data.priority.value
        ticket.state, ticket.due_at = data.state_to.value, data.due_at
        labels = {"department": department, "priority": ticket.priority}
        waited = max((data.occurred_at - ticket.received_at).total_seconds(), 0.0)
        assigned = data.kind in (K.OPENED, K.REROUTED) and data.state_to is TicketState.ROUTED
        if assigned or data.kind is K.REOPENED:
            ticket.awaiting_response, ticket.response_breached = True, False
        if data.kind is K.ACCEPTED:
            if not ticket.accepted:
                ticket.accepted = True
                self.first_response.labels(**labels).observe(waited)
            if ticket.awaiting_response and not ticket.response_breached:
                self.book.tally(department, data.occurred_at, in_time=1, due=1)
            ticket.awaiting_response = False
        elif data.kind is K.RESOLVED and not ticket.resolved:
            ticket.resolved = True
            self.resolution.labels(**labels).observe(waited)
        elif data.kind is K.WARNED:
            self.count("sla_warnings", **labels)
        elif data.kind is K.BREACHED:
            self.count("sla_breaches", **labels)
            if data.clock == "resolution":
                self.book.tally(department, data.occurred_at, late_completions=1)
            if (
                data.clock == "response"
                and ticket.awaiting_response
                and not ticket.response_breached
            ):
                ticket.response_breached = True
                self.book.tally(department, data.occurred_at, due=1, late_acceptances=1)
        elif data.kind in (K.SURVEYED, K.NO_RESPONSE) and data.satisfaction:
            self._survey(department, data)
            for code in ticket.co:
                self.book.survey(code, data, co=True)
        elif data.co_department_code:
            if data.co_department_name:
                self.names[data.co_department_code] = data.co_department_name
            self.book.co_handling(ticket.co, data)
        elif data.kind is K.RETURN_REQUESTED:
            self.count("returns_requested", department=department, reason=_code(data))
        elif data.kind is K.RETURN_REFUSED:
            self.count("returns_refused", department=department)
        elif data.kind is K.SUPERVISED:
            self.count("supervision_steps", step=data.step or "none", department=department)
        elif data.kind is K.RETURNED:
            self.count("returns", department=department, reason=_code(data))
            ticket.returns += 1
            if ticket.returns == BOUNCES:
                self.count("tickets_bounced")
        self.book.unreasonable(data)
        if ticket.state in ("closed", "merged"):
            # Closed tickets, and repeats linked to another (an unlinking opens them again),
            # live on in the counters only.
            del self.tickets[data.ticket_id]

    def _survey(self, department: str, data: TicketEvent) -> None:
        assert data.satisfaction is not None
        name = SATISFACTION.get(data.satisfaction)
        if name is None:
            return
        self.count(name, department=department)
        if data.satisfaction == "no_response":
            return
        if data.solved in SOLVED:
            self.count(SOLVED[data.solved], department=department)
        if data.contacted is not None:
            self.count(
                "survey_contacted" if data.contacted else "survey_not_contacted",
                department=department,
            )
        self.book.survey(department, data)
