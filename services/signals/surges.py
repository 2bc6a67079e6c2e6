"""Surges (舆情预警, public-opinion early warning): a key's items far above its own baseline.

A key is a category, a district or a place. Its items are counted in hourly bins of item time.
When an item arrives at t, the items of the last hour, (t - 1 h, t], are compared with what
the same hour of the week brought in each of the last `weeks` weeks (Beijing's 12345 has a
strong weekly rhythm: Monday mornings are not Sunday nights). A week whose bins are older than
the key's first sighting does not count; with no whole week of history, the key's mean hourly
rate so far stands in, and a key seen for less than a day has only the prior rate.

The window's count c is a surge when it is at least `min_items` for the key's dimension, at
least `ratio` times the expected count, and improbable under it: the Poisson tail
P(X >= c | expected) is below `p_value` (expected never below `floor`, so that a quiet key
needs a real burst). A key alerts once an hour at most: a burst that goes on is told again
an hour later, not at every item.

Categories and districts are large: on a system without a day of history they would alert
on their first busy hour, so they wait for `warmup_hours` of history. A place is new when a
burst happens there (a burst pipe names a compound nobody wrote about before), so a place
uses the prior from its first item.

Pure logic over a `Trend` record; the faust agent keeps one per key in its table.
"""

import bisect
import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from scipy.stats import poisson

from services.signals.records import Trend

HOUR = 3600.0
WEEK = 7 * 24 * HOUR


@dataclass(frozen=True)
class SurgeRules:
    """What makes a surge (configurable: `FEEDBACKLOOP_SIGNALS_SURGE_*`)."""

    weeks: int = 4
    #: Fewest items in the hour, per dimension: a category is busy, a place is not.
    min_items: tuple[tuple[str, int], ...] = (("category", 30), ("district", 15), ("place", 6))
    ratio: float = 1.5
    p_value: float = 1e-6
    #: Lowest expected items per hour, and the prior of a key without history.
    floor: float = 0.2
    warmup_hours: float = 24.0

    def least(self, dimension: str) -> int:
        """Fewest items in an hour that can be a surge of this dimension."""
        return dict(self.min_items).get(dimension, 6)


@dataclass(frozen=True)
class Surge:
    """A key's hour far above its baseline."""

    dimension: str
    key: str
    count: int
    expected: float
    #: Share of the window's items that read angry or urgent (see `tone`).
    heated_share: float
    ticket_nos: tuple[str, ...]
    first_at: datetime
    last_at: datetime
    #: Items per hour for the last 24 hours, oldest first, and the baseline of those hours.
    trend: tuple[int, ...]
    baseline: tuple[float, ...]


def empty_trend(partition: int = -1) -> Trend:
    """The state of a key nobody wrote about."""
    return Trend(bins={}, at=[], ticket_nos=[], heated=[], first_at=None, partition=partition)


def _bin(at: float) -> int:
    return math.floor(at / HOUR)


def _window(bins: dict[str, int], end: float) -> float:
    """Items in (end - 1 h, end] from hourly bins, the two bins it overlaps pro rata."""
    hour = _bin(end)
    elapsed = (end - hour * HOUR) / HOUR
    return bins.get(str(hour - 1), 0) * (1 - elapsed) + bins.get(str(hour), 0) * elapsed


def expected_at(trend: Trend, at: float, rules: SurgeRules) -> float | None:
    """Items the key's baseline expects in the hour up to `at`; None while it warms up."""
    first = trend.first_at if trend.first_at is not None else at
    known = at - HOUR - first  # history before the window
    weeks = [k for k in range(1, rules.weeks + 1) if known >= k * WEEK]
    if weeks:
        mean = sum(_window(trend.bins, at - k * WEEK) for k in weeks) / len(weeks)
    elif known >= rules.warmup_hours * HOUR:
        before = sum(n for h, n in trend.bins.items() if int(h) < _bin(at - HOUR))
        mean = before / (known / HOUR)
    else:
        mean = rules.floor
    return max(mean, rules.floor)


def _prune(bins: dict[str, int], at: float, rules: SurgeRules) -> dict[str, int]:
    oldest = _bin(at - rules.weeks * WEEK) - 2
    return {h: n for h, n in bins.items() if int(h) >= oldest}


def count(
    trend: Trend,
    *,
    dimension: str,
    key: str,
    ticket_no: str,
    at: float,
    heated: bool,
    rules: SurgeRules,
    warm: bool,
) -> tuple[Trend, Surge | None]:
    """Add one item to a key's trend; the new state and the surge it revealed, if any.

    `warm`: whether the key may alert before it has history of its own (places may).
    An item already in the window changes nothing (a redelivery).
    """
    if ticket_no in trend.ticket_nos:
        return trend, None
    bins = dict(trend.bins)
    bins[str(_bin(at))] = bins.get(str(_bin(at)), 0) + 1
    times, numbers, hot = list(trend.at), list(trend.ticket_nos), list(trend.heated)
    position = bisect.bisect_right(times, at)  # several source partitions: nearly in order
    times.insert(position, at)
    numbers.insert(position, ticket_no)
    hot.insert(position, heated)
    end = times[-1]
    keep = bisect.bisect_right(times, end - HOUR)
    times, numbers, hot = times[keep:], numbers[keep:], hot[keep:]
    first = at if trend.first_at is None else min(trend.first_at, at)
    state = Trend(
        bins=_prune(bins, end, rules),
        at=times,
        ticket_nos=numbers,
        heated=hot,
        first_at=first,
        partition=trend.partition,
        fired_at=trend.fired_at,
    )
    expected = expected_at(trend if trend.first_at else state, end, rules)
    if not warm and end - first < rules.warmup_hours * HOUR:
        expected = None
    threshold = _threshold(expected, dimension, rules)
    if trend.fired_at is not None and end - trend.fired_at < HOUR:
        return state, None  # the same burst goes on: one alert an hour for it
    if expected is None or len(times) < threshold:
        return state, None
    state.fired_at = end
    return state, _surge(state, dimension, key, expected, end, rules)


def _threshold(expected: float | None, dimension: str, rules: SurgeRules) -> float:
    """The fewest items in the hour that make a surge (infinite while warming up)."""
    if expected is None:
        return math.inf
    tail = _tail(rules.p_value, round(expected, 2))
    return max(rules.least(dimension), math.ceil(rules.ratio * expected), tail)


@functools.lru_cache(maxsize=65536)
def _tail(p_value: float, expected: float) -> float:
    """The smallest c with P(X >= c) <= p_value for a Poisson mean (isf is k with sf(k) <= p,
    and sf(k) is P(X > k)). Cached: every item asks, and the means repeat."""
    return float(poisson.isf(p_value, expected)) + 1


def _surge(
    state: Trend, dimension: str, key: str, expected: float, end: float, rules: SurgeRules
) -> Surge:
    hours = [_bin(end) - 23 + i for i in range(24)]
    baseline = []
    for hour in hours:
        mid = (hour + 1) * HOUR
        weeks = [k for k in range(1, rules.weeks + 1) if (state.first_at or end) <= mid - k * WEEK]
        baseline.append(
            round(sum(_window(state.bins, mid - k * WEEK) for k in weeks) / len(weeks), 2)
            if weeks
            else 0.0
        )
    return Surge(
        dimension=dimension,
        key=key,
        count=len(state.at),
        expected=round(expected, 2),
        heated_share=round(sum(state.heated) / len(state.heated), 3),
        ticket_nos=tuple(state.ticket_nos),
        first_at=datetime.fromtimestamp(state.at[0], UTC),
        last_at=datetime.fromtimestamp(end, UTC),
        trend=tuple(state.bins.get(str(hour), 0) for hour in hours),
        baseline=tuple(baseline),
    )


def is_stale(trend: Trend, *, now: float, rules: SurgeRules) -> bool:
    """True once a key has had nothing for the whole baseline span: it can be forgotten."""
    latest = max((int(h) for h in trend.bins), default=None)
    return latest is None or (latest + 1) * HOUR <= now - rules.weeks * WEEK


class Detector:
    """Trends of many keys in one process's memory: the same counting, for a replay of an
    export (`python -m bench.surges`) and for tests."""

    def __init__(self, rules: SurgeRules) -> None:
        self.rules = rules
        self.trends: dict[tuple[str, str], Trend] = {}

    def count(
        self, *, dimension: str, key: str, ticket_no: str, at: float, heated: bool = False
    ) -> Surge | None:
        """Add one item of a key; the surge it revealed, if any."""
        trend, surge = count(
            self.trends.get((dimension, key)) or empty_trend(),
            dimension=dimension,
            key=key,
            ticket_no=ticket_no,
            at=at,
            heated=heated,
            rules=self.rules,
            warm=dimension == "place",
        )
        self.trends[(dimension, key)] = trend
        return surge
