"""`feedbackloop report` reads the metrics page and shows the 三率 per department."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest

from feedbackloop.cli.report import department_figures, draw_rates
from feedbackloop.events import Priority, TicketEvent, TicketEventKind, TicketState, new_event
from services.metrics.fold import EventFold


def test_the_report_takes_each_departments_figures_from_the_metrics_page() -> None:
    fold = EventFold(dedup_window=10)
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    for kind, state, extra in [
        (TicketEventKind.OPENED, TicketState.ROUTED, {}),
        (TicketEventKind.ACCEPTED, TicketState.ACCEPTED, {}),
        (
            TicketEventKind.SURVEYED,
            TicketState.SURVEYED,
            {"solved": "solved", "satisfaction": "dissatisfied"},
        ),
    ]:
        data = TicketEvent(
            ticket_id="t",
            ticket_no="2611231000001",
            kind=kind,
            state_to=state,
            department_code="water",
            priority=Priority.NORMAL,
            actor="system",
            received_at=t0,
            occurred_at=t0 + timedelta(hours=1),
            **extra,  # type: ignore[arg-type]
        )
        fold.apply(new_event(data=data, source="/followup", subject="t"))
    figures = department_figures(generate_latest(fold.registry).decode())
    water = figures["water"]
    assert water["feedbackloop_response_rate"] == 1.0
    assert water["feedbackloop_resolution_rate"] == 1.0
    assert water["feedbackloop_satisfaction_rate"] == 0.0


def test_the_report_draws_the_rates_into_a_png(tmp_path: Path) -> None:
    figures = {
        "water": {"feedbackloop_response_rate": 0.9, "feedbackloop_satisfaction_rate": 0.8},
        "urban": {"feedbackloop_resolution_rate": 0.5},
    }
    out = tmp_path / "rates.png"
    draw_rates(figures, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 5_000
