"""The 三率 league table: the same figures as /metrics, ranked, as a page and as JSON."""

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.metrics import pages
from services.metrics.fold import EventFold
from tests.metrics.test_fold import K, S, ticket_event, value


def survey(fold: EventFold, name: str, department: str, solved: str, satisfaction: str) -> None:
    for kind, state, hours, extra in (
        (K.OPENED, S.ROUTED, 0, {}),
        (K.ACCEPTED, S.ACCEPTED, 1, {}),
        (K.RESOLVED, S.RESOLVED, 5, {}),
        (K.SURVEYED, S.SURVEYED, 30, {"solved": solved, "satisfaction": satisfaction}),
    ):
        name_of = {"water": "市水务局", "urban": "市城市管理局"}.get(department)
        event = ticket_event(
            name,
            kind,
            state,
            hours=hours,
            department=department,
            department_name=name_of,
            **extra,
        )
        fold.apply(event)


@pytest.fixture
def fold() -> EventFold:
    fold = EventFold(dedup_window=1000)
    survey(fold, "w1", "water", "solved", "satisfied")
    survey(fold, "w2", "water", "not", "dissatisfied")
    survey(fold, "u1", "urban", "partly", "basically")
    fold.apply(ticket_event("e1", K.OPENED, S.ROUTED, hours=0, department="education"))
    fold.apply(
        ticket_event("e1", K.BREACHED, S.ROUTED, hours=4, department="education", clock="response")
    )
    return fold


@pytest.fixture
def reader() -> SimpleNamespace:
    return SimpleNamespace(caught_up=True)


@pytest.fixture
def http(fold: EventFold, reader: SimpleNamespace) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.fold, app.state.reader = fold, reader
    pages.install(app)
    with TestClient(app) as client:
        yield client


def test_the_league_is_ranked_by_the_chosen_rate_with_the_metrics_figures(
    http: TestClient, fold: EventFold
) -> None:
    rows = http.get("/api/v1/rates").json()
    assert [(r["rank"], r["department"]) for r in rows] == [
        (1, "urban"),
        (2, "water"),
        (3, "education"),
    ]
    water = rows[1]
    assert water["name"] == "市水务局"
    assert (water["response_rate"], water["resolution_rate"], water["satisfaction_rate"]) == (
        1.0,
        0.5,
        0.5,
    )
    assert (water["assignments_due"], water["surveys_answered"]) == (2, 2)
    for name in ("response", "resolution", "satisfaction"):
        assert water[f"{name}_rate"] == value(
            fold, f"feedbackloop_{name}_rate", {"department": "water"}
        )
    education = rows[2]
    assert education["response_rate"] == 0.0 and education["satisfaction_rate"] is None
    by_response = http.get("/api/v1/rates", params={"sort": "response"}).json()
    assert [r["department"] for r in by_response] == ["urban", "water", "education"]
    assert http.get("/api/v1/rates", params={"sort": "nonsense"}).status_code == 422


def test_the_page_shows_the_rates_as_percentages(http: TestClient) -> None:
    page = http.get("/rates")
    assert page.status_code == 200
    assert '<tr data-department="water">' in page.text
    assert '<td data-label="满意率" data-rate="satisfaction">50.0%' in page.text
    assert '<label for="sort">排序依据</label>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert http.get("/rates", params={"sort": "x"}).status_code == 200


def test_until_the_log_is_folded_the_table_says_it_is_not_ready(
    http: TestClient, reader: SimpleNamespace
) -> None:
    reader.caught_up = False
    assert http.get("/api/v1/rates").status_code == 503
    page = http.get("/rates")
    assert page.status_code == 503 and "排行尚未完整" in page.text
