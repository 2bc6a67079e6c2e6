"""Folding events into Prometheus metrics."""

from prometheus_client import generate_latest

from services.metrics.fold import EventFold
from tests import factories


def value(fold: EventFold, name: str, labels: dict[str, str]) -> float:
    sample = fold.registry.get_sample_value(name, labels)
    return sample or 0.0


def test_events_are_counted_by_their_labels() -> None:
    fold = EventFold(dedup_window=100)
    item = factories.received()
    fold.apply(item)
    fold.apply(factories.routed(item, department="urban"))
    assert value(fold, "feedbackloop_feedback_received_total", {"channel": "web"}) == 1
    labels = {"department": "urban", "method": "rule", "priority": "normal"}
    assert value(fold, "feedbackloop_feedback_routed_total", labels) == 1
    assert value(fold, "feedbackloop_dispatch_duration_seconds_count", {}) == 1
    assert value(fold, "feedbackloop_dispatch_duration_seconds_sum", {}) == 1.0


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
    exposition = generate_latest(fold.registry).decode()
    assert item.data.ticket_id not in exposition
    assert item.data.ticket_no not in exposition
    assert "路灯" not in exposition
