"""The monthly public report's figures: every one from the events, the 三率 the scoring's."""

from services.metrics.fold import EventFold
from services.metrics.monthly_figures import MonthlyFigures
from services.metrics.public_report import (
    MIN_PLACE_ITEMS,
    PublicReport,
    build_report,
    months_before,
)
from services.metrics.rates import rates_of
from services.metrics.scoring import Weights, rank_month
from tests.metrics.month_events import EXPECTED, MONTH, month_events


def report_of(month: str = MONTH) -> tuple[EventFold, PublicReport]:
    fold, figures = EventFold(dedup_window=1000), MonthlyFigures()
    for event in month_events():
        if fold.apply(event):
            figures.apply(event)
    return fold, build_report(fold, figures, month, weights=Weights())


def test_every_figure_of_the_month_comes_from_its_events() -> None:
    _, report = report_of()
    assert report.received == EXPECTED["received"]
    assert dict(report.channels) == EXPECTED["channels"]
    assert dict(report.districts) == EXPECTED["districts"]
    assert dict(report.categories) == EXPECTED["categories"]
    assert (report.responses_in_time, report.responses_due) == EXPECTED["responses"]
    assert (report.resolutions_on_time, report.resolutions) == EXPECTED["resolutions"]
    assert report.late_acceptances == EXPECTED["late_acceptances"]
    assert report.late_completions == EXPECTED["late_completions"]
    surveys = (report.surveys_answered, report.surveys_satisfied, report.surveys_solved)
    assert surveys == EXPECTED["surveys"]
    assert report.response_share == 2 / 3 and report.resolution_share == 1 / 3
    assert report.satisfaction_share == report.solved_share == 0.5


def test_lists_are_ranked_most_first_and_ties_by_name() -> None:
    _, report = report_of()
    assert [count for _, count in report.channels] == [2, 2, 1, 1]
    assert [label for label, _ in report.districts] == ["朝阳区", "海淀区", "未注明"]


def test_the_three_rates_per_unit_are_the_scoring_s_for_the_month() -> None:
    fold, report = report_of()
    assert report.scores == rank_month(fold, MONTH, weights=Weights())
    tallies = fold.month_tallies(MONTH)
    for row in report.scores:
        rates = rates_of(row.department, row.name, tallies[row.department])
        got = (row.response_rate, row.resolution_rate, row.satisfaction_rate)
        assert got == (rates.response_rate, rates.resolution_rate, rates.satisfaction_rate)
    water = next(row for row in report.scores if row.department == "water")
    assert (water.name, water.response_rate, water.satisfaction_rate) == ("市水务局", 0.5, 0.5)
    assert (water.late_acceptances, water.late_completions) == (1, 1)


def test_the_month_s_top_problems_carry_their_counts_of_the_months_before() -> None:
    _, report = report_of()
    assert report.trend_months == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert {p.category: p.counts for p in report.problems} == EXPECTED["problems"]
    assert [p.category for p in report.problems] == ["供水", "市容环卫", "未分类"]
    assert [p.change for p in report.problems] == [2, 0, 1]


def test_only_places_named_often_enough_are_published() -> None:
    _, report = report_of()
    assert {(p.category, p.place): p.counts for p in report.places} == EXPECTED["places"]
    # 建设路 and 光明路 were named once each: too few to publish without pointing at someone.
    assert all(p.counts[-1] >= MIN_PLACE_ITEMS for p in report.places)


def test_an_empty_month_has_a_report_of_zeros() -> None:
    _, report = report_of("2027-03")
    assert report.received == 0 and report.scores == [] and report.problems == []
    assert report.response_share is None and report.satisfaction_share is None
    assert report.channels == report.categories == report.places == []


def test_months_before_cross_the_new_year() -> None:
    assert months_before("2027-02", 4) == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert months_before("2026-11", 1) == ["2026-11"]
