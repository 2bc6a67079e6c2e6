"""Resolution deadlines: wall-clock hours for urgent items, PRC working days for the rest.

Working days follow the statutory calendar (holidays and 调休 make-up workdays) as published
in `chinese-calendar`. For a year that package does not know yet, the clock keeps running
on Monday-Friday and `calendar_fallbacks` counts how often that happened, so operators can
see that the calendar needs an update; a deadline is never refused for it.
"""

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from feedbackloop.events import Priority

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")

#: Limits that run on the wall clock (Beijing 12345 standard: urgent 2 h; utilities 24 h).
WALL_CLOCK_LIMITS: dict[Priority, timedelta] = {
    Priority.URGENT: timedelta(hours=2),
    Priority.HIGH: timedelta(hours=24),
}
#: Limits in working days (general items: 7 working days).
WORKING_DAY_LIMITS: dict[Priority, int] = {Priority.NORMAL: 7}

calendar_fallbacks = 0


def is_workday(day: date) -> bool:
    """True on a PRC working day; Monday-Friday for a year the calendar does not cover."""
    global calendar_fallbacks
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        calendar_fallbacks += 1
        if calendar_fallbacks == 1:
            log.warning("no PRC holiday data for %s; counting Monday-Friday", day.year)
        return day.weekday() < 5


def add_working_days(start: datetime, days: int) -> datetime:
    """The same Beijing time of day, `days` working days after `start`."""
    local = start.astimezone(BEIJING)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_workday(day):
            counted += 1
    clock: time = local.timetz().replace(tzinfo=None)
    return datetime.combine(day, clock, tzinfo=BEIJING)


def resolution_deadline(*, priority: Priority, received_at: datetime) -> datetime:
    """When an item received at `received_at` must be resolved."""
    if priority in WALL_CLOCK_LIMITS:
        return received_at + WALL_CLOCK_LIMITS[priority]
    return add_working_days(received_at, WORKING_DAY_LIMITS.get(priority, 7))
