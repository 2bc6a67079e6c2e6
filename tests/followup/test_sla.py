"""Deadlines on the PRC working calendar, including the 2026 National Day week."""

from datetime import UTC, datetime, timedelta

import pytest

from feedbackloop.events import Priority
from services.followup import sla
from services.followup.sla import BEIJING, add_working_days, resolution_deadline


def beijing(*args: int) -> datetime:
    return datetime(*args, tzinfo=BEIJING)  # type: ignore[misc]


def test_seven_working_days_skip_national_day_and_count_the_make_up_saturday() -> None:
    # Wed 30 Sep 2026: 1-7 Oct are holidays, Sat 10 Oct is a make-up workday (调休).
    due = resolution_deadline(priority=Priority.NORMAL, received_at=beijing(2026, 9, 30, 10, 0))
    # Working days: 8, 9, 10 (Sat), 12, 13, 14, 15 October.
    assert due == beijing(2026, 10, 15, 10, 0)


def test_an_item_received_on_a_holiday_starts_counting_after_it() -> None:
    due = add_working_days(beijing(2026, 10, 3, 15, 30), 1)
    assert due == beijing(2026, 10, 8, 15, 30)


def test_urgent_items_run_on_the_wall_clock_even_on_holidays() -> None:
    received = beijing(2026, 10, 1, 23, 0)
    due = resolution_deadline(priority=Priority.URGENT, received_at=received)
    assert due - received == timedelta(hours=2)


def test_utility_items_get_24_wall_clock_hours() -> None:
    received = datetime(2026, 10, 2, 8, 0, tzinfo=UTC)
    due = resolution_deadline(priority=Priority.HIGH, received_at=received)
    assert due == received + timedelta(hours=24)


def test_a_year_the_calendar_does_not_know_falls_back_to_weekdays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = sla.calendar_fallbacks
    # Mon 28 Dec 2026 + 7 working days crosses into 2027, which chinese-calendar lacks.
    due = add_working_days(beijing(2026, 12, 28, 9, 0), 7)
    assert due == beijing(2027, 1, 6, 9, 0)
    assert sla.calendar_fallbacks > before
