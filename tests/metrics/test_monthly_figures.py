"""The public report's monthly volumes, places, deadlines and surveys, folded from events."""

from datetime import UTC, datetime, timedelta

import pytest

from feedbackloop.events import Channel, TicketEventKind, TicketState
from services.metrics.fold import EventFold
from services.metrics.monthly_figures import MonthlyFigures
from tests import factories
from tests.metrics.month_events import MONTH, T0, item, month_events, routed, ticket

K, S = TicketEventKind, TicketState


def folded() -> tuple[EventFold, MonthlyFigures]:
    fold, figures = EventFold(dedup_window=1000), MonthlyFigures()
    for event in month_events():
        if fold.apply(event):
            figures.apply(event)
    return fold, figures


def test_items_are_counted_by_channel_and_district_in_their_beijing_month() -> None:
    _, figures = folded()
    assert figures.channels(MONTH) == {"hotline": 2, "web": 2, "wechat": 1, "open311": 1}
    assert figures.districts(MONTH) == {"朝阳区": 3, "海淀区": 2, "未注明": 1}
    # 2026-11-30 17:00 UTC is 1 December in Beijing; 2026-10-31 16:30 UTC is 1 November.
    assert figures.channels("2026-12") == {"hotline": 1}
    assert figures.channels("2026-10") == {"hotline": 1, "web": 2}


def test_an_item_counts_under_its_latest_routing_s_category_whatever_the_order() -> None:
    _, figures = folded()
    # d was first routed as 供水, then corrected to 市容环卫; e stayed at the dispatch desk.
    assert figures.by_category(MONTH) == {"供水": 3, "市容环卫": 2, "未分类": 1}
    assert figures.by_category("2026-09") == {"供水": 1}


def test_a_consultation_answered_at_intake_has_a_category_of_its_own() -> None:
    from feedbackloop.events import DirectAnswer

    figures = MonthlyFigures()
    answer = DirectAnswer(
        article_id=1,
        article_title="停水查询",
        department_code="water",
        answer="请拨打供水服务热线查询停水信息。",
        answered_by="agent:王",
    )
    figures.apply(factories.received("哪里查停水通知", direct_answer=answer))
    assert figures.by_category(MONTH) == {"咨询（当场答复）": 1}


def test_places_are_counted_per_category_by_the_shared_place_reader() -> None:
    _, figures = folded()
    assert figures.by_place(MONTH) == {("供水", "幸福小区"): 3, ("市容环卫", "建设路"): 1} | {
        ("市容环卫", "光明路"): 1
    }


def test_a_resolution_is_late_after_a_breach_or_after_its_deadline() -> None:
    _, figures = folded()
    # a on time; b after a resolution breach; d after its one-day deadline, with no breach.
    assert figures.resolutions_of(MONTH) == {"on_time": 1, "late": 2}
    assert figures.resolutions_of("2026-10") == {}


def test_a_reopened_ticket_starts_a_new_round_with_a_new_limit() -> None:
    figures = MonthlyFigures()
    a = item("水管漏水", Channel.WEB, T0)
    for event in (
        ticket(a, K.OPENED, S.ROUTED, hours=0, department="water"),
        ticket(a, K.BREACHED, S.ROUTED, hours=169, department="water", clock="resolution"),
        ticket(a, K.RESOLVED, S.RESOLVED, hours=170, department="water"),
        ticket(a, K.REOPENED, S.REOPENED, hours=171, department="water", due=timedelta(days=9)),
        ticket(a, K.RESOLVED, S.RESOLVED, hours=180, department="water", due=timedelta(days=9)),
        ticket(a, K.CLOSED, S.CLOSED, hours=200, department="water", due=timedelta(days=9)),
    ):
        figures.apply(event)
    assert figures.resolutions_of("2026-11") + figures.resolutions_of("2026-12") == {
        "on_time": 1,
        "late": 1,
    }
    assert figures.deadlines == {}  # a closed ticket is forgotten


def test_surveys_and_volumes_over_all_months_are_prometheus_s() -> None:
    fold, figures = folded()

    def counter(name: str, **labels: str) -> float:
        return fold.registry.get_sample_value(f"feedbackloop_{name}_total", labels) or 0.0

    months = {item.month for item in figures.items.values()}
    for channel in ("hotline", "web", "wechat", "open311"):
        items = sum(figures.channels(month)[channel] for month in months)
        assert items == counter("feedback_received", channel=channel)
    surveys = figures.surveys_of(MONTH)
    satisfied = counter("survey_satisfied", department="water") + counter(
        "survey_basically_satisfied", department="water"
    )
    answered = satisfied + counter("survey_dissatisfied", department="water")
    assert (surveys["answered"], surveys["satisfied"]) == (answered, satisfied) == (2, 1)
    assert surveys["solved"] == 1


def test_the_same_item_published_twice_is_one_item() -> None:
    figures = MonthlyFigures()
    first = factories.received("路灯坏了", channel=Channel.HOTLINE)
    again = factories.received("路灯坏了", channel=Channel.HOTLINE, ticket_id=first.data.ticket_id)
    for event in (first, again, routed(first, "urban", "市容环卫")):
        figures.apply(event)
    assert figures.channels(MONTH) == {"hotline": 1}


@pytest.mark.parametrize(
    ("when", "month"),
    [
        (datetime(2026, 11, 30, 15, 59, tzinfo=UTC), "2026-11"),
        (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "2026-12"),
    ],
)
def test_the_month_turns_at_beijing_midnight(when: datetime, month: str) -> None:
    figures = MonthlyFigures()
    figures.apply(item("路灯坏了", Channel.WEB, when))
    assert figures.channels(month) == {"web": 1}
