"""The 12345 agent's page: knowledge-base hits on a call, 直接答复 in one click, or filing.

followup's knowledge base is real (in process, over its HTTP API); intake's outbox shows
what would travel downstream.
"""

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from feedbackloop.events import Channel, RequestType
from services.intake.credentials import Kind, create_credential, revoke_credential
from tests.intake.knowledge_desk import (
    PERMIT,
    followup_with_articles,
    knowledge_of,
    received,
    unreachable,
    with_knowledge,
)
from tests.intake.test_api import make_client

QUESTION = "请问居住证办理需要哪些材料？我的手机号是13812345678"
CALLER = "13912345678"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def credential(client: TestClient, kind: Kind = Kind.AGENT, name: str = "坐席1024王芳") -> str:
    with client.app.state.intake.sessions.begin() as session:  # type: ignore[attr-defined]
        return create_credential(session=session, kind=kind, name=name, now=datetime.now(UTC))


def csrf(page: str) -> str:
    match = _CSRF.search(page)
    assert match, page
    return match.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in; the empty desk's HTML."""
    page = client.get("/agent/login")
    assert page.status_code == 200
    done = client.post(
        "/agent/login", data={"token": token, "csrf": csrf(page.text)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/agent", done.text
    desk = client.get("/agent")
    assert desk.status_code == 200 and "来电人的问题" in desk.text
    return desk.text


def call_form(page: str, question: str = QUESTION, **extra: str) -> dict[str, str]:
    token = _TOKEN.search(page)
    assert token
    return {
        "question": question,
        "caller_number": CALLER,
        "token": token.group(1),
        "csrf": csrf(page),
        **extra,
    }


@pytest.fixture
def agent_client(tmp_path: Path) -> tuple[TestClient, dict[str, int]]:
    desk, ids = followup_with_articles(tmp_path)
    client = with_knowledge(make_client(tmp_path), knowledge_of(desk))
    return client, ids


def test_an_agent_answers_a_consultation_directly_in_one_click(
    agent_client: tuple[TestClient, dict[str, int]], caplog: pytest.LogCaptureFixture
) -> None:
    client, ids = agent_client
    caplog.set_level(logging.DEBUG)
    desk = sign_in(client, credential(client))
    form = call_form(desk)
    hits = client.post("/agent/search", data=form)
    assert hits.status_code == 200
    assert PERMIT["title"] in hits.text and "按此文章直接答复" in hits.text
    answered = client.post("/agent/answer", data={**form, "article_id": str(ids["permit"])})
    assert answered.status_code == 200, answered.text
    assert "已直接答复" in answered.text and "派出所" in answered.text
    (event,) = received(client)
    item = event.data
    assert item.ticket_no in answered.text
    assert (item.channel, item.request_type) == (Channel.HOTLINE, RequestType.CONSULTATION)
    assert item.direct_answer is not None
    assert item.direct_answer.article_id == ids["permit"]
    assert item.direct_answer.department_code == "urban"
    assert item.direct_answer.answered_by == "agent:坐席1024王芳"
    assert "13812345678" not in item.text and "138****5678" in item.text
    assert item.contact is not None and item.contact.phone_masked == "139****5678"
    # A double click (or a reload of the POST) is the same call: the same ticket.
    again = client.post("/agent/answer", data={**form, "article_id": str(ids["permit"])})
    assert item.ticket_no in again.text and len(received(client)) == 1
    assert "13812345678" not in caplog.text and CALLER not in caplog.text


def test_nothing_fits_so_the_agent_files_it_with_the_type_they_heard(
    agent_client: tuple[TestClient, dict[str, int]],
) -> None:
    client, _ = agent_client
    desk = sign_in(client, credential(client))
    form = call_form(desk, "投诉某超市缺斤少两", request_type="complaint")
    hits = client.post("/agent/search", data=form)
    assert "没有找到相关的知识库文章" in hits.text and "登记派单" in hits.text
    filed = client.post("/agent/file", data=form)
    assert filed.status_code == 200 and "已登记" in filed.text
    (event,) = received(client)
    assert event.data.request_type is RequestType.COMPLAINT
    assert event.data.direct_answer is None


def test_with_followup_down_the_page_says_so_and_filing_still_works(tmp_path: Path) -> None:
    client = with_knowledge(make_client(tmp_path), unreachable())
    desk = sign_in(client, credential(client))
    form = call_form(desk)
    hits = client.post("/agent/search", data=form)
    assert hits.status_code == 200 and "知识库暂时无法访问" in hits.text
    refused = client.post("/agent/answer", data={**form, "article_id": "1"})
    assert refused.status_code == 503 and "知识库暂时无法访问" in refused.text
    filed = client.post("/agent/file", data=form)
    assert filed.status_code == 200
    (event,) = received(client)
    # Its words still say it is a question: counted as a consultation, not answered.
    assert event.data.request_type is RequestType.CONSULTATION
    assert event.data.direct_answer is None


def test_a_retired_article_is_not_given_as_an_answer(tmp_path: Path) -> None:
    desk_, ids = followup_with_articles(tmp_path)
    retired = desk_.client.post(
        f"/api/v1/workbench/articles/{ids['permit']}/retire", headers=desk_.headers["urban"]
    )
    assert retired.status_code == 200
    client = with_knowledge(make_client(tmp_path), knowledge_of(desk_))
    form = call_form(sign_in(client, credential(client)))
    gone = client.post("/agent/answer", data={**form, "article_id": str(ids["permit"])})
    assert gone.status_code == 409 and "已停用" in gone.text
    assert received(client) == []


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"question": ""}, 422, "请填写来电人反映的问题"),
        ({"question": "问" * 2001}, 422, "问题描述太长"),
        ({"caller_number": "12"}, 422, "请填写有效的手机号码"),
        ({"request_type": "gossip"}, 422, "请从列表中选择诉求类型"),
        ({"token": "x"}, 422, "页面已过期"),
        ({"article_id": "abc"}, 422, "请从检索结果中选择"),
        ({"article_id": "99999999999"}, 422, "请从检索结果中选择"),
        ({"article_id": "4242"}, 409, "已停用"),
        ({"csrf": "forged"}, 403, "表单已过期或来源不明"),
        ({"question": "问\x00题"}, 200, "已直接答复"),  # a NUL is cleaned away, not a 5xx
    ],
)
def test_hostile_forms_get_a_clear_chinese_answer_never_a_5xx(
    agent_client: tuple[TestClient, dict[str, int]],
    change: dict[str, str],
    status: int,
    message: str,
) -> None:
    client, ids = agent_client
    form = call_form(sign_in(client, credential(client)))
    reply = client.post("/agent/answer", data={**form, "article_id": str(ids["permit"]), **change})
    assert reply.status_code == status, reply.text
    assert message in reply.text


def test_only_a_signed_in_agent_credential_may_use_the_page(
    agent_client: tuple[TestClient, dict[str, int]],
) -> None:
    client, _ = agent_client
    assert client.get("/agent", follow_redirects=False).headers["location"] == "/agent/login"
    login = client.get("/agent/login")
    centre = credential(client, Kind.HOTLINE, "话务系统")  # a machine's, not an agent's
    refused = client.post("/agent/login", data={"token": centre, "csrf": csrf(login.text)})
    assert refused.status_code == 401 and "访问凭证不正确" in refused.text
    token = credential(client)
    sign_in(client, token)
    with client.app.state.intake.sessions.begin() as session:  # type: ignore[attr-defined]
        revoke_credential(session=session, credential_id=token.split(".")[0], now=datetime.now(UTC))
    assert client.get("/agent", follow_redirects=False).headers["location"] == "/agent/login"


def test_the_page_stays_closed_in_production_without_its_own_session_secret(
    tmp_path: Path,
) -> None:
    client = make_client(
        tmp_path,
        environment="production",
        contact_key="cHJvZHVjdGlvbi1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        wechat_token="production-token",
        status_link_key="production-status-link-key",
    )
    closed = client.get("/agent/login")
    assert closed.status_code == 503 and "坐席页面未启用" in closed.text
