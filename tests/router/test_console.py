"""The operators' console pages in the router: sign-in, triage assignment, hotspots."""

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import FeedbackRouted, decode, encode
from feedbackloop.events.topics import FEEDBACK_ROUTED
from feedbackloop.places import place_of
from feedbackloop.runtime.sql import create_store
from services.router import agents, console, service, views
from services.router.config import DEFAULT_RULES, Settings
from services.router.models import Base
from services.router.rules import load_rule_table
from services.signals.agents import hotspot_event
from services.signals.bursts import Counter
from tests import factories
from tests.router.test_agent import Recorder
from tests.router.test_triage import CANDIDATES, CO_HANDLED, OPERATOR


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)


@pytest.fixture
def app(sessions: sessionmaker[Session]) -> FastAPI:
    app = FastAPI()
    app.state.settings = Settings(operator_token="operator-token-for-tests")
    app.state.sessions = sessions
    app.state.table = load_rule_table(DEFAULT_RULES)
    app.state.publish = Recorder()
    app.include_router(views.router)
    console.install(app)
    return app


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def sign_in(http: TestClient, name: str = "王芳") -> str:
    form = http.get("/console/login")
    page = http.post(
        "/console/login",
        data={"name": name, "token": "operator-token-for-tests", "csrf": csrf_of(form.text)},
    )
    assert page.status_code == 200 and f"{name}（话务员）" in page.text
    return csrf_of(page.text)


def test_the_console_needs_the_operator_token_and_a_name(http: TestClient) -> None:
    assert http.get("/console/triage", follow_redirects=False).headers["location"] == (
        "/console/login"
    )
    csrf = csrf_of(http.get("/console/login").text)
    wrong = http.post("/console/login", data={"name": "王芳", "token": "guess", "csrf": csrf})
    assert wrong.status_code == 401 and "接线员凭证不正确" in wrong.text
    empty = http.post("/console/login", data={"name": "", "token": "", "csrf": csrf})
    assert empty.status_code == 422
    assert re.findall(r'<p class="error" id="([\w-]+)">', empty.text) == [
        "login-name-error",
        "login-token-error",
    ]
    forged = http.post(
        "/console/login", data={"name": "王芳", "token": "operator-token-for-tests", "csrf": "x"}
    )
    assert forged.status_code == 403
    done = http.post(
        "/console/login",
        data={"name": "王芳", "token": "operator-token-for-tests", "csrf": csrf},
        follow_redirects=False,
    )
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "operator-token-for-tests" not in cookie


def test_an_operator_assigns_a_triaged_item_with_one_click(
    http: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    item = factories.received("关于我们村的一些情况反映", title="情况反映")
    with sessions.begin() as session:
        service.create_triage_item(
            session=session,
            received=item,
            candidates=CANDIDATES,
            priority="normal",
            now=datetime.now(UTC),
        )
    csrf = sign_in(http)
    page = http.get("/console/triage").text
    assert "派给市住房和城乡建设局（城乡建设，41%）" in page
    assert "派给市民政局（民政，30%）" in page
    assert '<label for="other-2611221000014">其他承办单位</label>' in page

    no = item.data.ticket_no
    unknown = http.post(
        f"/console/triage/{no}/assign", data={"csrf": csrf, "department_code": "mars"}
    )
    assert unknown.status_code == 422 and "没有编号为“mars”的承办单位" in unknown.text
    blank = http.post(f"/console/triage/{no}/assign", data={"csrf": csrf, "department_code": ""})
    assert blank.status_code == 422 and "请选择要派往的承办单位" in blank.text
    forged = http.post(f"/console/triage/{no}/assign", data={"department_code": "civil"})
    assert forged.status_code == 403
    assert app.state.publish.sent == []

    done = http.post(
        f"/console/triage/{no}/assign", data={"csrf": csrf, "department_code": "civil"}
    )
    assert done.status_code == 200 and f"工单 {no} 已派给市民政局" in done.text
    assert f'data-ticket="{no}"' not in done.text
    topic, _, raw = app.state.publish.sent[0]
    routed = decode(raw, expect=FeedbackRouted).data
    assert (topic, routed.department_code, routed.assigned_by) == (FEEDBACK_ROUTED, "civil", "王芳")
    assert http.get("/api/v1/triage", headers={"Authorization": "Bearer x"}).status_code == 401
    api = http.get("/api/v1/triage", headers={"Authorization": "Bearer operator-token-for-tests"})
    assert api.json() == []
    again = http.post(
        f"/console/triage/{no}/assign", data={"csrf": csrf, "department_code": "civil"}
    )
    assert again.status_code == 409 and "已由 王芳 分派给 civil" in again.text


def test_the_card_suggests_lead_and_co_handling_units_only_when_both_are_likely(
    http: TestClient, sessions: sessionmaker[Session]
) -> None:
    plain = factories.received("关于我们村的一些情况反映", ticket_no="2611221000014")
    paired = factories.received("工地夜间施工噪音扰民，渣土乱倒", ticket_no="2611221000022")
    with sessions.begin() as session:
        for item, candidates in ((plain, CANDIDATES), (paired, CO_HANDLED)):
            service.create_triage_item(
                session=session,
                received=item,
                candidates=candidates,
                priority="normal",
                now=datetime.now(UTC),
            )
    sign_in(http)
    page = http.get("/console/triage").text
    cards = {
        no: page[page.index(f'id="item-{no}"') :].split("</article>")[0]
        for no in ("2611221000014", "2611221000022")
    }
    assert 'class="co-handling"' not in cards["2611221000014"]
    card = cards["2611221000022"]
    line = re.search(r'class="co-handling"[^>]*>.*?<p>([^<]*)</p>', card, re.S)
    assert line is not None
    assert line.group(1) == "可能需多部门协同：建议主办市住房和城乡建设局，协办市生态环境局"
    assert '<input type="hidden" name="co_department_code" value="environment">' in card
    # Above the candidate buttons, which are unchanged.
    assert cards["2611221000022"].index("co-handling") < cards["2611221000022"].index(
        'class="candidates"'
    )
    assert "派给市生态环境局（环境保护，36%）" in cards["2611221000022"]


def test_one_click_assigns_the_suggested_lead_and_co_unit_to_both_queues(
    http: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    paired = factories.received("工地夜间施工噪音扰民，渣土乱倒", ticket_no="2611221000022")
    with sessions.begin() as session:
        service.create_triage_item(
            session=session,
            received=paired,
            candidates=CO_HANDLED,
            priority="normal",
            now=datetime.now(UTC),
        )
    csrf = sign_in(http)
    url = "/console/triage/2611221000022/assign"
    unknown = http.post(
        url, data={"csrf": csrf, "department_code": "housing", "co_department_code": "mars"}
    )
    assert unknown.status_code == 422 and "没有编号为“mars”的协办单位" in unknown.text
    too_many = http.post(
        url,
        data={"csrf": csrf, "department_code": "housing", "co_department_code": ["civil"] * 6},
    )
    assert too_many.status_code == 422 and "协办单位最多 5 个" in too_many.text
    done = http.post(
        url,
        data={"csrf": csrf, "department_code": "housing", "co_department_code": "environment"},
    )
    assert done.status_code == 200 and "已派给" in done.text
    assert app.state.publish.topics() == [FEEDBACK_ROUTED, "queue.housing", "queue.environment"]
    routed = decode(app.state.publish.sent[0][2], expect=FeedbackRouted).data
    assert routed.department_code == "housing"
    assert [(u.department_code, u.department_name) for u in routed.co_handlers] == [
        ("environment", "市生态环境局")
    ]


def test_hotspots_are_remembered_once_and_listed(
    http: TestClient, sessions: sessionmaker[Session]
) -> None:
    texts = ["银杏花园电梯坏了三天没人修", "银杏花园电梯又停了", "银杏花园电梯关人了"]
    # Arrived just now: the page shows the last 7 days.
    now = datetime.now(UTC)
    items = [
        factories.received(t, ticket_no=f"261122100{n:03d}0", received_at=now)
        for n, t in enumerate(texts)
    ]
    # The signals worker's alert, as it arrives on feedback.hotspots.
    counter = Counter(items=3, window=timedelta(hours=24).total_seconds())
    spots = [
        counter.count(
            place=place_of(i.data.text) or "",
            category="城乡建设",
            ticket_no=i.data.ticket_no,
            at=i.data.received_at.timestamp(),
        )
        for i in items
    ]
    assert spots[-1] is not None
    alert = encode(hotspot_event(spots[-1], window_seconds=24 * 3600))
    hotspots = agents.HotspotsAgent(sessions=sessions)
    for _ in range(2):  # the second: a redelivered batch
        assert asyncio.run(hotspots.handle(hotspots.prepare(factories.records(alert)))) == []
    sign_in(http)
    page = http.get("/console/hotspots").text
    assert page.count('data-place="银杏花园"') == 1
    assert "3 件（24 小时内）" in page
    headers = {"Authorization": "Bearer operator-token-for-tests"}
    (spot,) = http.get("/api/v1/hotspots", headers=headers).json()
    assert (spot["place"], spot["category"]) == ("银杏花园", "城乡建设")
    assert spot["ticket_nos"] == [i.data.ticket_no for i in items]
    assert http.get("/api/v1/hotspots", headers=OPERATOR).status_code == 401


def test_hostile_input_is_a_4xx(http: TestClient) -> None:
    form = http.get("/console/login")
    signed = http.post(
        "/console/login",
        data={
            "name": "王\x00芳\u202e",
            "token": "operator-token-for-tests",
            "csrf": csrf_of(form.text),
        },
    )
    assert "王芳" in signed.text  # control characters dropped from the name
    csrf = csrf_of(signed.text)
    for number in ("%00", "<b>", "²" * 30):
        reply = http.post(
            f"/console/triage/{number}/assign", data={"csrf": csrf, "department_code": "civil"}
        )
        assert reply.status_code == 404, number
    for params in ({"done": "assigned", "ticket": "²", "department": "civil"}, {"done": "<x>"}):
        page = http.get("/console/triage", params=params)
        assert page.status_code == 200 and "已派给" not in page.text
