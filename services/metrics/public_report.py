"""The figures of the monthly public report (每月公开报告), from one fold of the log.

A 12345 centre publishes every month what citizens asked and how its units did (政务公开,
open government), so the report holds aggregates only: counts by channel, district and
category, the 三率 per unit exactly as the monthly scoring ranks them (`scoring.rank_month`,
itself `EventFold.month_tallies` and `rates_of`), deadlines kept, and 每月一题 (the month's
top recurring problems) with their counts in the months before. No names, numbers, ticket
texts or ids; a place is named only when at least `MIN_PLACE_ITEMS` items name it, so that no
single household's request can be recognised by where it was made.

Centre-wide survey figures count every answered survey once, as Prometheus's survey counters
do; the units' 解决率 and 满意率 are the scoring's (an accepted 不合理诉求 leaves them, and a
co-handling unit counts the ticket's surveys too), so the two may differ slightly.
"""

from collections import Counter as Tally
from dataclasses import dataclass, field

from services.metrics.fold import EventFold
from services.metrics.monthly_figures import MonthlyFigures
from services.metrics.scoring import MonthlyScore, Weights, rank_month

#: 每月一题: how many categories and places the report names, and over how many months.
TOP_PROBLEMS = 5
TREND_MONTHS = 4
#: A place is published only with at least this many items naming it in the month.
MIN_PLACE_ITEMS = 3
CHANNEL_NAMES = {
    "hotline": "12345 热线电话",
    "web": "网站",
    "wechat": "微信",
    "open311": "开放接口（Open311）",
    "agent": "话务员代填",
}


def months_before(month: str, count: int) -> list[str]:
    """`count` months ending with `month`, oldest first ("2026-01", 2 -> 2025-12, 2026-01)."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def share(part: int, whole: int) -> float | None:
    """part / whole, None when there is nothing to divide."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Problem:
    """One of 每月一题: a category (or a place within one) and its monthly counts."""

    category: str
    place: str | None
    #: Items per month over `TREND_MONTHS`, oldest first; the last is the report's month.
    counts: list[int]

    @property
    def change(self) -> int:
        """This month's items less last month's (环比)."""
        return self.counts[-1] - self.counts[-2] if len(self.counts) > 1 else self.counts[-1]


@dataclass(frozen=True)
class PublicReport:
    """Everything the PDF shows, for one Beijing calendar month."""

    month: str
    trend_months: list[str]
    received: int
    #: (label, items), most first.
    channels: list[tuple[str, int]]
    districts: list[tuple[str, int]]
    categories: list[tuple[str, int]]
    #: The month's ranking (三率, deductions, score), as the league table's month view.
    scores: list[MonthlyScore]
    #: 签收: assignments accepted in time / assignments due (all units, co-handling included).
    responses_in_time: int
    responses_due: int
    #: 办结: resolutions in the month on time / all.
    resolutions_on_time: int
    resolutions: int
    late_acceptances: int
    late_completions: int
    #: Centre-wide answered surveys and their outcomes (every answer once).
    surveys_answered: int
    surveys_satisfied: int
    surveys_solved: int
    problems: list[Problem] = field(default_factory=list)
    places: list[Problem] = field(default_factory=list)

    @property
    def response_share(self) -> float | None:
        return share(self.responses_in_time, self.responses_due)

    @property
    def resolution_share(self) -> float | None:
        return share(self.resolutions_on_time, self.resolutions)

    @property
    def satisfaction_share(self) -> float | None:
        return share(self.surveys_satisfied, self.surveys_answered)

    @property
    def solved_share(self) -> float | None:
        return share(self.surveys_solved, self.surveys_answered)


def _ranked(tally: Tally[str], names: dict[str, str] | None = None) -> list[tuple[str, int]]:
    rows = sorted(tally.items(), key=lambda pair: (-pair[1], pair[0]))
    return [((names or {}).get(key, key), count) for key, count in rows if count]


def build_report(
    fold: EventFold, figures: MonthlyFigures, month: str, *, weights: Weights
) -> PublicReport:
    """The report of `month` (YYYY-MM) from a fold and the figures fed the same events."""
    trend = months_before(month, TREND_MONTHS)
    tallies = fold.month_tallies(month)
    total = Tally[str]()
    for tally in tallies.values():
        total.update(tally)
    surveys = figures.surveys_of(month)
    resolutions = figures.resolutions_of(month)
    categories = figures.by_category(month)
    history = {m: figures.by_category(m) for m in trend}
    problems = [
        Problem(category, None, [history[m][category] for m in trend])
        for category, _ in _ranked(categories)[:TOP_PROBLEMS]
    ]
    place_history = {m: figures.by_place(m) for m in trend}
    places = [
        Problem(category, place, [place_history[m][(category, place)] for m in trend])
        for (category, place), count in sorted(
            place_history[month].items(), key=lambda pair: (-pair[1], pair[0])
        )
        if count >= MIN_PLACE_ITEMS
    ][:TOP_PROBLEMS]
    channels = figures.channels(month)
    return PublicReport(
        month=month,
        trend_months=trend,
        received=sum(channels.values()),
        channels=_ranked(channels, CHANNEL_NAMES),
        districts=_ranked(figures.districts(month)),
        categories=_ranked(categories),
        scores=rank_month(fold, month, weights=weights),
        responses_in_time=total["in_time"],
        responses_due=total["due"],
        resolutions_on_time=resolutions["on_time"],
        resolutions=resolutions["on_time"] + resolutions["late"],
        late_acceptances=total["late_acceptances"],
        late_completions=total["late_completions"],
        surveys_answered=surveys["answered"],
        surveys_satisfied=surveys["satisfied"],
        surveys_solved=surveys["solved"],
        problems=problems,
        places=places,
    )
