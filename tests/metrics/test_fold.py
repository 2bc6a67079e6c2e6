"""Folding events into the metrics of docs/metrics.md, and the 三率 formulas."""

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from feedbackloop.events import (
    Priority,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    TicketState,
    new_event,
)
from services.metrics.fold import EventFold
from tests import factories

K, S = TicketEventKind, TicketState
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def value(fold: EventFold, name: str, labels: dict[str, str] | None = None) -> float:
    return fold.registry.get_sample_value(name, labels or {}) or 0.0


def ticket_event(
    ticket_id: str,
    kind: TicketEventKind,
    state: TicketState,
    *,
    hours: float,
    department: str = "urban",
    **extra: object,
) -> object:
    data = TicketEvent(
        ticket_id=ticket_id,
        ticket_no="2611231000001",
        kind=kind,
        state_to=state,
        department_code=department,
        priority=Priority.NORMAL,
        actor="system",
        received_at=T0,
        occurred_at=T0 + timedelta(hours=hours),
        due_at=T0 + timedelta(days=7),
        **extra,  # type: ignore[arg-type]
    )
    return new_event(data=data, source="/followup", subject=ticket_id)


def test_intake_and_routing_are_counted_by_their_labels() -> None:
    fold = EventFold(dedup_window=100)
    item = factories.received()
    fold.apply(item)
    fold.apply(factories.routed(item, department="urban"))
    assert value(fold, "feedbackloop_feedback_received_total", {"channel": "web"}) == 1
    routed = {"department": "urban", "priority": "normal"}
    assert value(fold, "feedbackloop_feedback_routed_total", routed) == 1
    assert value(fold, "feedbackloop_routed_by_rule_total", {"department": "urban"}) == 1
    assert value(fold, "feedbackloop_pipeline_latency_seconds_count") == 1


def test_triage_backlog_rises_and_falls_with_assignment() -> None:
    fold = EventFold(dedup_window=100)
    item = factories.received()
    fold.apply(factories.routed(item, department="dispatch", method=RoutingMethod.TRIAGE))
    assert value(fold, "feedbackloop_triage_backlog") == 1
    fold.apply(factories.routed(item, department="civil", method=RoutingMethod.MANUAL, minute=3))
    assert value(fold, "feedbackloop_triage_backlog") == 0
    assert value(fold, "feedbackloop_routed_manually_total", {"department": "civil"}) == 1


def test_the_three_rates_follow_their_formulas() -> None:
    fold = EventFold(dedup_window=1000)
    # a: accepted in 1 h, solved, 满意.  b: response limit breached, then accepted; partly,
    # 基本满意.  c: not solved, 不满意.  d: no response.  e: open, response breached.
    for name, accept_after in (("a", 1), ("b", 5), ("c", 2), ("d", 1), ("e", None)):
        fold.apply(ticket_event(name, K.OPENED, S.ROUTED, hours=0))
        if name in ("b", "e"):
            fold.apply(ticket_event(name, K.BREACHED, S.ROUTED, hours=4, clock="response"))
        if accept_after is not None:
            fold.apply(ticket_event(name, K.ACCEPTED, S.ACCEPTED, hours=accept_after))
            fold.apply(ticket_event(name, K.RESOLVED, S.RESOLVED, hours=30))
    answers = {
        "a": ("solved", "satisfied"),
        "b": ("partly", "basically"),
        "c": ("not", "dissatisfied"),
    }
    for name, (solved, satisfaction) in answers.items():
        fold.apply(
            ticket_event(
                name, K.SURVEYED, S.SURVEYED, hours=60, solved=solved, satisfaction=satisfaction
            )
        )
    fold.apply(ticket_event("d", K.NO_RESPONSE, S.RESOLVED, hours=100, satisfaction="no_response"))
    urban = {"department": "urban"}
    # 响应率: a, c, d accepted in time; b and e came due unaccepted -> 3 / 5.
    assert value(fold, "feedbackloop_response_rate", urban) == 3 / 5
    # 解决率 and 满意率 over the 3 answered surveys (d gave no answer).
    assert value(fold, "feedbackloop_resolution_rate", urban) == 2 / 3
    assert value(fold, "feedbackloop_satisfaction_rate", urban) == 2 / 3
    assert value(fold, "feedbackloop_survey_no_response_total", urban) == 1
    assert value(fold, "feedbackloop_sla_breaches_total", {**urban, "priority": "normal"}) == 2
    # Resolution within 7 days: the 604800 s bucket holds all four resolutions.
    labels = {**urban, "priority": "normal"}
    assert value(fold, "feedbackloop_resolution_seconds_count", labels) == 4
    assert value(fold, "feedbackloop_resolution_seconds_bucket", {**labels, "le": "604800.0"}) == 4
    assert (
        value(fold, "feedbackloop_first_response_seconds_bucket", {**labels, "le": "7200.0"}) == 3
    )
    assert value(fold, "feedbackloop_tickets_open", {**labels, "state": "routed"}) == 1  # e


def test_a_redelivered_event_is_counted_once() -> None:
    fold = EventFold(dedup_window=100)
    item = factories.received()
    assert fold.apply(item)
    assert not fold.apply(item)
    assert value(fold, "feedbackloop_feedback_received_total", {"channel": "web"}) == 1


def test_no_label_carries_a_ticket_id_or_text() -> None:
    fold = EventFold(dedup_window=100)
    item = factories.received()
    fold.apply(item)
    fold.apply(factories.routed(item))
    fold.apply(ticket_event(item.data.ticket_id, K.OPENED, S.ROUTED, hours=0))
    exposition = generate_latest(fold.registry).decode()
    assert item.data.ticket_id not in exposition
    assert item.data.text not in exposition


def test_the_supervision_ladder_s_steps_are_counted_by_step_and_unit() -> None:
    fold = EventFold(dedup_window=100)
    fold.apply(ticket_event("t-9", K.OPENED, S.ROUTED, hours=0))
    for hours, step in ((50, "remind"), (54, "urge"), (70, "reprimand")):
        fold.apply(ticket_event("t-9", K.SUPERVISED, S.ROUTED, hours=hours, step=step))
    labels = {"step": "urge", "department": "urban"}
    assert value(fold, "feedbackloop_supervision_steps_total", labels) == 1
    assert value(fold, "feedbackloop_supervision_steps_total", labels | {"step": "remind"}) == 1
    assert "t-9" not in generate_latest(fold.registry).decode()


def test_a_co_handling_unit_s_rates_count_its_own_role() -> None:
    fold = EventFold(dedup_window=1000)

    def co(name: str, kind: TicketEventKind, hours: float, unit: str, **extra: object) -> object:
        return ticket_event(name, kind, S.ACCEPTED, hours=hours, co_department_code=unit, **extra)

    # t1: urban leads, water co-handles and signs in time; t2: water signs late and its part
    # comes late; environment was named on t2 by mistake and withdrawn.
    for name in ("t1", "t2"):
        fold.apply(ticket_event(name, K.OPENED, S.ROUTED, hours=0))
        fold.apply(co(name, K.COHANDLER_ASSIGNED, 0, "water", co_department_name="市水务局"))
        fold.apply(ticket_event(name, K.ACCEPTED, S.ACCEPTED, hours=1))
    fold.apply(co("t1", K.COHANDLER_ACCEPTED, 1, "water"))
    fold.apply(co("t1", K.COHANDLER_SUBMITTED, 20, "water"))
    fold.apply(co("t2", K.COHANDLER_ASSIGNED, 0, "env"))
    fold.apply(co("t2", K.COHANDLER_WITHDRAWN, 1, "env"))
    fold.apply(co("t2", K.COHANDLER_OVERDUE, 3, "water", clock="response"))
    fold.apply(co("t2", K.COHANDLER_ACCEPTED, 4, "water"))
    fold.apply(co("t2", K.COHANDLER_OVERDUE, 80, "water", clock="part"))
    for name, satisfaction in (("t1", "satisfied"), ("t2", "dissatisfied")):
        fold.apply(ticket_event(name, K.RESOLVED, S.RESOLVED, hours=90))
        fold.apply(
            ticket_event(
                name, K.SURVEYED, S.SURVEYED, hours=120, solved="solved", satisfaction=satisfaction
            )
        )
    rates = {r.department: r for r in fold.rates()}
    assert rates["water"].name == "市水务局"
    assert (rates["water"].response_rate, rates["water"].assignments_due) == (1 / 2, 2)
    assert (rates["water"].satisfaction_rate, rates["water"].surveys_answered) == (1 / 2, 2)
    assert rates["water"].resolution_rate == 1.0
    assert (rates["urban"].response_rate, rates["urban"].satisfaction_rate) == (1.0, 1 / 2)
    assert "env" not in rates  # withdrawn before anything counted
    water = fold.month_tallies()["water"]
    assert (water["co_due"], water["co_answered"], water["late_acceptances"]) == (2, 2, 1)
    assert water["late_completions"] == 1
    # The co-unit's events do not move the lead's figures.
    urban = fold.month_tallies()["urban"]
    assert (urban["due"], urban["late_acceptances"], urban["late_completions"]) == (2, 0, 0)
    assert value(fold, "feedbackloop_response_rate", {"department": "water"}) == 1 / 2
