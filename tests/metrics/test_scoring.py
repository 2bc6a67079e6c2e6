"""Monthly scoring (考核): per-month counts, weights, deductions, and its page and JSON."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.metrics import pages
from services.metrics.fold import EventFold
from services.metrics.rates import month_of
from services.metrics.scoring import DEFAULT_PATH, Weights, load_weights, rank_month
from tests.metrics.test_fold import K, S, ticket_event, value
from tests.metrics.test_rates_page import survey

MONTH = "2026-11"  # tests.metrics.test_fold's T0 is 2026-11-23 09:00 in Beijing


def test_a_month_is_the_beijing_calendar_month() -> None:
    assert month_of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-11"
    assert month_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"


def test_counts_fall_in_the_month_of_the_event_that_made_them() -> None:
    fold = EventFold(dedup_window=100)
    fold.apply(ticket_event("a", K.OPENED, S.ROUTED, hours=0))
    fold.apply(ticket_event("a", K.ACCEPTED, S.ACCEPTED, hours=1))
    fold.apply(ticket_event("a", K.RESOLVED, S.RESOLVED, hours=30))
    # Answered on 1 December (Beijing): the survey counts in December, the acceptance in November.
    fold.apply(
        ticket_event(
            "a", K.SURVEYED, S.SURVEYED, hours=24 * 8, solved="solved", satisfaction="satisfied"
        )
    )
    november, december = fold.month_tallies("2026-11"), fold.month_tallies("2026-12")
    assert (november["urban"]["in_time"], november["urban"]["answered"]) == (1, 0)
    assert (december["urban"]["in_time"], december["urban"]["answered"]) == (0, 1)
    assert fold.months() == ["2026-11", "2026-12"]
    # The live rates are the sums over the months.
    (urban,) = fold.rates()
    assert (urban.response_rate, urban.satisfaction_rate) == (1.0, 1.0)


def _two_units() -> EventFold:
    """water: every acceptance in time, surveys half satisfied; urban: the reverse."""
    fold = EventFold(dedup_window=1000)
    survey(fold, "w1", "water", "solved", "satisfied")
    survey(fold, "w2", "water", "not", "dissatisfied")
    for name in ("u1", "u2"):
        fold.apply(ticket_event(name, K.OPENED, S.ROUTED, hours=0))
        fold.apply(ticket_event(name, K.BREACHED, S.ROUTED, hours=4, clock="response"))
        fold.apply(ticket_event(name, K.ACCEPTED, S.ACCEPTED, hours=5))
        fold.apply(ticket_event(name, K.BREACHED, S.ACCEPTED, hours=100, clock="resolution"))
        fold.apply(ticket_event(name, K.RESOLVED, S.RESOLVED, hours=101))
        fold.apply(
            ticket_event(
                name, K.SURVEYED, S.SURVEYED, hours=130, solved="solved", satisfaction="satisfied"
            )
        )
    return fold


def test_the_score_is_the_weighted_rates_less_the_deductions() -> None:
    ranked = rank_month(_two_units(), MONTH, weights=Weights())
    by_unit = {row.department: row for row in ranked}
    water, urban = by_unit["water"], by_unit["urban"]
    # water: 响应率 1, 解决率 1/2, 满意率 1/2 -> 30 + 17.5 + 17.5.
    assert (water.points, water.deductions, water.score) == (65.0, 0.0, 65.0)
    # urban: 响应率 0 (both late), 解决率 1, 满意率 1 -> 70, less 2 x 0.5 and 2 x 1.
    assert (urban.late_acceptances, urban.late_completions) == (2, 2)
    assert (urban.points, urban.deductions, urban.score) == (70.0, 3.0, 67.0)
    assert [row.department for row in ranked] == ["urban", "water"]
    assert [row.rank for row in ranked] == [1, 2]


def test_changing_a_weight_re_ranks_the_past_month_from_the_same_counts() -> None:
    fold = _two_units()
    response_first = Weights(response=80, resolution=10, satisfaction=10)
    ranked = rank_month(fold, MONTH, weights=response_first)
    assert [row.department for row in ranked] == ["water", "urban"]
    assert ranked[0].score == 90.0  # 80 x 1 + 10 x 1/2 + 10 x 1/2
    # The default weights again: the same ranking as before, nothing was overwritten.
    assert [r.department for r in rank_month(fold, MONTH, weights=Weights())] == ["urban", "water"]
    assert rank_month(fold, "2026-10", weights=Weights()) == []


def test_a_unit_without_surveys_is_scored_on_the_rates_it_has() -> None:
    fold = EventFold(dedup_window=100)
    fold.apply(ticket_event("a", K.OPENED, S.ROUTED, hours=0, department="education"))
    fold.apply(ticket_event("a", K.ACCEPTED, S.ACCEPTED, hours=1, department="education"))
    (row,) = rank_month(fold, MONTH, weights=Weights())
    assert (row.response_rate, row.resolution_rate, row.satisfaction_rate) == (1.0, None, None)
    assert row.points == 100.0


def test_the_shipped_weights_load_and_bad_ones_are_refused_by_name(tmp_path: Path) -> None:
    assert load_weights(DEFAULT_PATH) == Weights()
    bad = tmp_path / "scoring.yaml"
    bad.write_text("response: -1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="response"):
        load_weights(bad)
    bad.write_text("respnse: 30\n", encoding="utf-8")
    with pytest.raises(ValueError, match="respnse"):
        load_weights(bad)


@pytest.fixture
def http() -> Iterator[TestClient]:
    app = FastAPI()
    app.state.fold, app.state.reader = _two_units(), SimpleNamespace(caught_up=True)
    app.state.weights = Weights()
    pages.install(app)
    with TestClient(app) as client:
        yield client


def test_the_month_s_scores_as_json_and_as_a_page(http: TestClient) -> None:
    answer = http.get("/api/v1/scores", params={"month": MONTH})
    assert answer.status_code == 200
    assert [(r["rank"], r["department"], r["score"]) for r in answer.json()] == [
        (1, "urban", 67.0),
        (2, "water", 65.0),
    ]
    page = http.get("/scores", params={"month": MONTH})
    assert page.status_code == 200
    assert "承办单位月度考核" in page.text and 'data-score="67.0"' in page.text
    assert f'<option value="{MONTH}" selected>' in page.text
    assert "签收超时每次 0.5 分" in page.text


@pytest.mark.parametrize("month", ["2026-13", "11-2026", "2026-1", "x" * 5000, "２０２６-１１"])
def test_a_bad_month_gets_a_clear_422(http: TestClient, month: str) -> None:
    answer = http.get("/api/v1/scores", params={"month": month})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "2026-11" in answer.json()["detail"]
    page = http.get("/scores", params={"month": month})
    assert page.status_code == 422 and "月份格式应为" in page.text


def test_scores_wait_for_the_log_to_be_read(http: TestClient) -> None:
    http.app.state.reader.caught_up = False  # type: ignore[attr-defined]
    assert http.get("/api/v1/scores", params={"month": MONTH}).status_code == 503
    assert http.get("/scores").status_code == 503


def _claimed(fold: EventFold, name: str) -> None:
    fold.apply(ticket_event(name, K.OPENED, S.ROUTED, hours=0))
    fold.apply(ticket_event(name, K.ACCEPTED, S.ACCEPTED, hours=1))
    fold.apply(ticket_event(name, K.RESOLVED, S.RESOLVED, hours=2, unreasonable="claimed"))


def _surveyed(fold: EventFold, name: str, hours: float) -> None:
    fold.apply(
        ticket_event(
            name,
            K.SURVEYED,
            S.SURVEYED,
            hours=hours,
            solved="not",
            satisfaction="dissatisfied",
            contacted=False,
        )
    )


def _reviewed(fold: EventFold, name: str, decision: str, hours: float) -> None:
    fold.apply(
        ticket_event(name, K.UNREASONABLE_REVIEWED, S.SURVEYED, hours=hours, unreasonable=decision)
    )


def test_an_accepted_unreasonable_request_leaves_the_rates_before_or_after_its_survey() -> None:
    fold = EventFold(dedup_window=100)
    _claimed(fold, "before")  # decided, then answered
    _reviewed(fold, "before", "accepted", hours=3)
    _surveyed(fold, "before", hours=30)
    _claimed(fold, "after")  # answered, then decided
    _surveyed(fold, "after", hours=30)
    assert fold.month_tallies(MONTH)["urban"]["answered"] == 1
    _reviewed(fold, "after", "accepted", hours=40)
    _claimed(fold, "refused")  # refused: counts as any answer
    _surveyed(fold, "refused", hours=30)
    _reviewed(fold, "refused", "refused", hours=40)

    (urban,) = fold.rates()
    assert (urban.surveys_answered, urban.satisfaction_rate) == (1, 0.0)
    # The outcome counters count every answer as given, and the contacted question.
    assert value(fold, "feedbackloop_survey_dissatisfied_total", {"department": "urban"}) == 3
    assert value(fold, "feedbackloop_survey_not_contacted_total", {"department": "urban"}) == 3
    (row,) = rank_month(fold, MONTH, weights=Weights())
    assert row.surveys_answered == 1
