"""Counting items per (place, category) in a sliding window of item time.

A hotspot is a burst of items about one place: at least `items` items of the same category
naming the same place within `window` seconds. It fires once per burst: after an alert, the
place is quiet until `window` has passed since the item that completed it, so operators get
one alert, not one per item.

This is pure logic over a `Burst` record; the faust agent keeps one per key in its table.
"""

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime

from services.signals.records import Burst


@dataclass(frozen=True)
class Hotspot:
    """A burst of items about one place."""

    place: str
    category: str
    ticket_nos: tuple[str, ...]
    first_at: datetime
    last_at: datetime


def empty_burst(partition: int = -1) -> Burst:
    """The state of a place nobody wrote about recently."""
    return Burst(at=[], ticket_nos=[], partition=partition)


def count(
    burst: Burst,
    *,
    place: str,
    category: str,
    ticket_no: str,
    at: float,
    items: int,
    window: float,
) -> tuple[Burst, Hotspot | None]:
    """Add one item to a place's burst; the new state and the hotspot it completed, if any.

    An item already counted changes nothing (a redelivery), except that the item that
    completed a burst gives its alert again: the first one may have been lost in a crash,
    and its event id lets consumers drop the copy.
    """
    if ticket_no in burst.ticket_nos or ticket_no == burst.fired_by:
        return burst, _fired(burst, place, category) if ticket_no == burst.fired_by else None
    times, numbers = list(burst.at), list(burst.ticket_nos)
    # Items of one place come from several source partitions, so slightly out of time order.
    position = bisect.bisect_right(times, at)
    times.insert(position, at)
    numbers.insert(position, ticket_no)
    now = times[-1]
    keep = bisect.bisect_right(times, now - window)
    times, numbers = times[keep:], numbers[keep:]
    state = Burst(
        at=times,
        ticket_nos=numbers,
        partition=burst.partition,
        fired_by=burst.fired_by,
        fired_at=burst.fired_at,
        fired_first=burst.fired_first,
        fired_nos=burst.fired_nos,
    )
    quiet = burst.fired_at is None or burst.fired_at <= at - window
    if len(times) < items or not quiet:
        return state, None
    state.fired_by, state.fired_at = ticket_no, at
    state.fired_first, state.fired_nos = times[0], list(numbers)
    return state, _fired(state, place, category)


def is_stale(burst: Burst, *, now: float, window: float) -> bool:
    """True once a place's items and its last alert are all older than the window."""
    latest = max([*burst.at[-1:], burst.fired_at or 0.0])
    return latest <= now - window


def _fired(burst: Burst, place: str, category: str) -> Hotspot:
    assert burst.fired_nos is not None and burst.fired_at is not None
    assert burst.fired_first is not None
    return Hotspot(
        place=place,
        category=category,
        ticket_nos=tuple(burst.fired_nos),
        first_at=datetime.fromtimestamp(burst.fired_first, UTC),
        last_at=datetime.fromtimestamp(burst.fired_at, UTC),
    )


class Counter:
    """Bursts of many places in one process's memory: the same counting, for a replay of
    an export (`feedbackloop router hotspots`) and for tests."""

    def __init__(self, *, items: int, window: float) -> None:
        self.items, self.window = items, window
        self.bursts: dict[tuple[str, str], Burst] = {}

    def count(self, *, place: str, category: str, ticket_no: str, at: float) -> Hotspot | None:
        """Add one item; the hotspot it completed, if any."""
        key = (place, category)
        burst, spot = count(
            self.bursts.get(key) or empty_burst(),
            place=place,
            category=category,
            ticket_no=ticket_no,
            at=at,
            items=self.items,
            window=self.window,
        )
        self.bursts[key] = burst
        return spot
