"""Working time on the PRC statutory calendar: which days are worked, and when in a day.

Working days follow `chinese-calendar` (statutory holidays and 调休 make-up workdays, i.e.
weekend days worked in exchange for a longer holiday). For a year the package does not know
yet, the clock keeps running on Monday-Friday plus an operator-maintained override list, and
`fallback_days` counts how often that happened so operators can see the calendar needs an
update; a deadline is never refused for it.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
#: Far enough for any limit; a calendar that finds no working time in it is misconfigured.
_HORIZON_DAYS = 3660


@dataclass
class WorkingCalendar:
    """Working days and the working periods of each (Beijing time)."""

    periods: list[tuple[time, time]] = field(
        default_factory=lambda: [(time(9, 0), time(12, 0)), (time(13, 30), time(18, 0))]
    )
    #: Overrides for years the calendar package does not know: date -> worked or not.
    overrides: dict[date, bool] = field(default_factory=dict)
    fallback_days: int = 0
    #: The package's answers: each deadline walks the same few weeks, and its lookup is costly.
    _known: dict[date, bool] = field(default_factory=dict, repr=False, compare=False)

    def is_workday(self, day: date) -> bool:
        """True on a PRC working day."""
        if day in self.overrides:
            return self.overrides[day]
        known = self._known.get(day)
        if known is not None:
            return known
        try:
            known = self._known[day] = bool(chinese_calendar.is_workday(day))
            return known
        except NotImplementedError:
            self.fallback_days += 1
            if self.fallback_days == 1:
                log.warning("no PRC holiday data for %s; counting Monday-Friday", day.year)
            return day.weekday() < 5

    def _periods_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (start, end) that end after `start`, in order, clipped to it."""
        day = start.astimezone(BEIJING).date()
        for _ in range(_HORIZON_DAYS):
            if self.is_workday(day):
                for begin, end in self.periods:
                    opens = datetime.combine(day, begin, tzinfo=BEIJING)
                    closes = datetime.combine(day, end, tzinfo=BEIJING)
                    if closes > start:
                        yield max(opens, start), closes
            day += timedelta(days=1)
        raise ValueError("no working time in ten years: check the working periods")

    def add(self, start: datetime, working: timedelta) -> datetime:
        """The moment `working` time of work has passed after `start`."""
        left = working
        for begin, end in self._periods_from(start):
            if left <= end - begin:
                return begin + left
            left -= end - begin
        raise AssertionError("unreachable")  # _periods_from raises first

    def _periods_before(self, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (start, end) that begin before `end`, latest first, clipped to it."""
        day = end.astimezone(BEIJING).date()
        for _ in range(_HORIZON_DAYS):
            if self.is_workday(day):
                for begin, close in reversed(self.periods):
                    opens = datetime.combine(day, begin, tzinfo=BEIJING)
                    closes = datetime.combine(day, close, tzinfo=BEIJING)
                    if opens < end:
                        yield opens, min(closes, end)
            day -= timedelta(days=1)
        raise ValueError("no working time in ten years: check the working periods")

    def subtract(self, end: datetime, working: timedelta) -> datetime:
        """The moment `working` time of work before `end` (the inverse of `add`)."""
        left = working
        for begin, close in self._periods_before(end):
            if left <= close - begin:
                return close - left
            left -= close - begin
        raise AssertionError("unreachable")  # _periods_before raises first

    @property
    def working_day(self) -> timedelta:
        """The working time of one working day (7.5 hours with the default periods)."""
        day = date(2000, 1, 1)
        return sum(
            (
                datetime.combine(day, end) - datetime.combine(day, begin)
                for begin, end in self.periods
            ),
            timedelta(),
        )

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two moments (zero if `end` is not after `start`)."""
        total = timedelta()
        if end <= start:
            return total
        for begin, close in self._periods_from(start):
            if begin >= end:
                break
            total += min(close, end) - begin
        return total

    def end_of_working_days(self, start: datetime, days: int) -> datetime:
        """Close of business on the `days`-th working day after the day of `start`."""
        day = start.astimezone(BEIJING).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return datetime.combine(day, self.periods[-1][1], tzinfo=BEIJING)
