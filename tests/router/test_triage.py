"""The triage queue: unsure items wait for an operator, who assigns them; the choice is learnt."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Candidate, FeedbackRouted, RoutingMethod, decode, encode
from feedbackloop.events.topics import FEEDBACK_ROUTED
from feedbackloop.runtime.sql import create_store
from services.router import service, views
from services.router.config import DEFAULT_RULES, Settings
from services.router.models import Base
from services.router.rules import load_rule_table
from tests import factories
from tests.router.test_agent import Recorder

CANDIDATES = [
    Candidate(
        department_code="housing",
        department_name="市住房和城乡建设局",
        category="城乡建设",
        probability=0.41,
    ),
    Candidate(
        department_code="civil", department_name="市民政局", category="民政", probability=0.3
    ),
]
#: Two departments both likely: a co-handling suggestion (CANDIDATES gives none).
CO_HANDLED = [
    Candidate(
        department_code="housing",
        department_name="市住房和城乡建设局",
        category="城乡建设",
        probability=0.55,
    ),
    Candidate(
        department_code="environment",
        department_name="市生态环境局",
        category="环境保护",
        probability=0.36,
    ),
    Candidate(
        department_code="transport",
        department_name="市交通运输局",
        category="交通运输",
        probability=0.04,
    ),
]
OPERATOR = {"Authorization": "Bearer dev-operator-token"}


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> Iterator[tuple[TestClient, Recorder, str]]:
    item = factories.received("关于我们村的一些情况反映", title="情况反映")
    with sessions.begin() as session:
        service.create_triage_item(
            session=session,
            received=item,
            candidates=CANDIDATES,
            priority="normal",
            now=datetime.now(UTC),
        )
    app = FastAPI()
    recorder = Recorder()
    app.state.settings = Settings()
    app.state.sessions = sessions
    app.state.table = load_rule_table(DEFAULT_RULES)
    app.state.publish = recorder
    app.include_router(views.router)
    yield TestClient(app), recorder, item.data.ticket_no


def test_the_queue_lists_unsure_items_with_the_models_top_departments(
    client: tuple[TestClient, Recorder, str],
) -> None:
    http, _, ticket_no = client
    (entry,) = http.get("/api/v1/triage", headers=OPERATOR).json()
    assert entry["ticket_no"] == ticket_no
    assert [c["department_code"] for c in entry["candidates"]] == ["housing", "civil"]
    assert entry["candidates"][0]["probability"] == 0.41


def test_items_with_two_likely_departments_carry_a_co_handling_suggestion(
    client: tuple[TestClient, Recorder, str], sessions: sessionmaker[Session]
) -> None:
    http, _, ticket_no = client
    item = factories.received("工地夜间施工噪音扰民，渣土乱倒", ticket_no="2611221000022")
    with sessions.begin() as session:
        service.create_triage_item(
            session=session,
            received=item,
            candidates=CO_HANDLED,
            priority="normal",
            now=datetime.now(UTC),
        )
    entries = {e["ticket_no"]: e for e in http.get("/api/v1/triage", headers=OPERATOR).json()}
    assert entries[ticket_no]["co_handling"] is None
    suggested = entries["2611221000022"]["co_handling"]
    assert suggested["lead"] == CO_HANDLED[0].model_dump()
    assert suggested["co"] == CO_HANDLED[1].model_dump()
    assert suggested["co"]["department_name"] == "市生态环境局"


def test_an_operator_assigns_and_the_item_goes_to_that_departments_queue(
    client: tuple[TestClient, Recorder, str], sessions: sessionmaker[Session]
) -> None:
    http, recorder, ticket_no = client
    body = {"department_code": "civil", "operator": "王芳"}
    reply = http.post(f"/api/v1/triage/{ticket_no}/assign", json=body, headers=OPERATOR)
    assert reply.status_code == 200, reply.text
    assert reply.json()["department_name"] == "市民政局"
    assert recorder.topics() == [FEEDBACK_ROUTED, "queue.civil"]
    routed = decode(recorder.sent[0][2], expect=FeedbackRouted).data
    assert routed.method is RoutingMethod.MANUAL and routed.assigned_by == "王芳"
    assert routed.category == "民政"
    assert http.get("/api/v1/triage", headers=OPERATOR).json() == []
    with sessions() as session:
        (correction,) = service.list_corrections(session=session)
    assert (correction.category, correction.source) == ("民政", "triage")
    assert "情况反映" in correction.text


def test_assigning_twice_unknown_departments_and_unknown_tickets_are_refused(
    client: tuple[TestClient, Recorder, str],
) -> None:
    http, _, ticket_no = client
    url = f"/api/v1/triage/{ticket_no}/assign"
    unknown = http.post(url, json={"department_code": "mars", "operator": "王芳"}, headers=OPERATOR)
    assert unknown.status_code == 422 and "mars" in unknown.json()["detail"]
    assert (
        http.post(
            url, json={"department_code": "civil", "operator": "王芳"}, headers=OPERATOR
        ).status_code
        == 200
    )
    again = http.post(
        url, json={"department_code": "housing", "operator": "李明"}, headers=OPERATOR
    )
    assert again.status_code == 409 and "王芳" in again.json()["detail"]
    missing = http.post(
        "/api/v1/triage/2611229999990/assign",
        json={"department_code": "civil", "operator": "x"},
        headers=OPERATOR,
    )
    assert missing.status_code == 404


def test_only_operators_see_the_queue(client: tuple[TestClient, Recorder, str]) -> None:
    http, _, _ = client
    assert http.get("/api/v1/triage").status_code == 401
    assert http.get("/api/v1/triage", headers={"Authorization": "Bearer guess"}).status_code == 401


def test_a_redelivered_triage_item_is_queued_once(sessions: sessionmaker[Session]) -> None:
    item = factories.received("关于我们村的一些情况反映")
    with sessions.begin() as session:
        first = service.create_triage_item(
            session=session, received=item, candidates=[], priority="normal", now=datetime.now(UTC)
        )
    with sessions.begin() as session:
        second = service.create_triage_item(
            session=session, received=item, candidates=[], priority="normal", now=datetime.now(UTC)
        )
    assert (first, second) == (True, False)
    with sessions() as session:
        assert len(service.list_open_triage(session=session, limit=10)) == 1


def test_a_redelivered_batch_of_triage_items_is_queued_once(
    sessions: sessionmaker[Session],
) -> None:
    items = [
        factories.received(f"第{n}个说不清的情况", ticket_no=f"261122100{n:04d}") for n in range(3)
    ]
    batch = [
        (item.data.ticket_id, item.data.ticket_no, encode(item), CANDIDATES, "normal")
        for item in items
    ]
    for _ in range(2):  # the router crashed after committing, and reads the batch again
        with sessions.begin() as session:
            service.create_triage_items(session=session, items=batch, now=datetime.now(UTC))
    with sessions.begin() as session:  # the same item twice in one batch
        again = factories.received("又一个说不清的情况", ticket_no="2611221009999")
        row = (again.data.ticket_id, again.data.ticket_no, encode(again), CANDIDATES, "normal")
        twice = [row] * 2
        service.create_triage_items(session=session, items=twice, now=datetime.now(UTC))
    with sessions() as session:
        assert len(service.list_open_triage(session=session, limit=10)) == 4
