"""直接答复 on the running stack: a 12345 agent answers a consultation in Chromium from the
knowledge base, followup closes the ticket at once in the article's unit, and metrics counts
it in the 直接答复率; with WeChat (wechatpy as the platform) a close question is answered in
the passive reply and closed the same way."""

import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import wechatpy
from playwright.sync_api import Browser, BrowserContext, expect

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.auth import Role
from services.intake.config import DEV_WECHAT_TOKEN
from services.intake.credentials import Kind, create_credential
from services.intake.database import create_store
from tests.browser.support import DESKTOP, assert_every_control_is_labelled, screenshot
from tests.integration.conftest import find_events, metric, wait_for
from tests.integration.test_consoles import credential, ticket_api

pytestmark = pytest.mark.integration
API = "/api/v1/workbench"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def agent_token(stack: Stack, name: str) -> str:
    """A new agent credential in the stack's intake store (`add-credential --kind agent`)."""
    store = create_store(f"sqlite:///{stack.settings.state_dir.resolve() / 'intake.db'}")
    with store.begin() as session:
        return create_credential(session=session, kind=Kind.AGENT, name=name, now=datetime.now(UTC))


def article(stack: Stack, token: str, title: str, body: str) -> int:
    reply = httpx.post(
        f"{stack.services['followup'].url}{API}/articles",
        json={"title": title, "body_md": body},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def closed_directly(followup: str, number: str, token: str) -> Any:
    seen = ticket_api(followup, number, token)
    return seen if seen and seen["state"] == "closed" else None


def test_an_agent_answers_a_consultation_directly_and_it_counts(
    stack: Stack, context: BrowserContext, kafka: LocalKafka
) -> None:
    followup, metrics = stack.services["followup"].url, stack.services["metrics"].url
    operator = credential(stack, Role.OPERATOR)
    water = credential(stack, Role.DEPARTMENT, "water")
    place = f"锦绣{secrets.token_hex(2).upper()}小区"  # no other test's article or ticket
    title = f"{place}计划停水期间如何临时取水"
    answer = f"{place}计划停水期间，水务集团在小区北门设置临时供水车，每天8时至20时供水。"
    article_id = article(stack, water, title, f"## 临时取水\n{answer}")
    labels = {"channel": "hotline"}
    answered_before = metric(metrics, "feedbackloop_direct_answers_total", labels)
    asked_before = metric(metrics, "feedbackloop_consultations_total", labels)

    page = context.new_page()
    page.goto(f"{stack.services['intake'].url}/agent/login")
    page.get_by_label("访问凭证").fill(agent_token(stack, "坐席2046李娜"))
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".who")).to_contain_text("坐席2046李娜")
    page.get_by_label("来电人的问题").fill(f"请问{place}计划停水期间怎么临时取水？")
    page.get_by_label("来电号码").fill("13912345678")
    page.get_by_role("button", name="检索知识库").click()
    hit = page.locator(f'li.hit[data-article="{article_id}"]')
    expect(hit).to_contain_text(title)
    assert_every_control_is_labelled(page)
    screenshot(page, "agent-knowledge-hits")
    hit.get_by_role("button", name="按此文章直接答复").click()
    expect(page.get_by_role("status")).to_contain_text("已直接答复")
    expect(page.locator("#answer")).to_contain_text(answer)
    number = page.locator("#ticket-no").inner_text().strip()
    screenshot(page, "agent-direct-answer")

    ticket = wait_for(
        lambda: closed_directly(followup, number, operator), what="the ticket closed as 直接答复"
    )
    assert ticket["department_code"] == "water" and answer in ticket["reply"]
    events = find_events(
        kafka.bootstrap, TICKET_EVENTS, lambda e: e.data.ticket_no == number, count=2
    )
    assert [e.data.kind for e in events] == ["answered_directly", "closed"]
    assert events[0].data.article_id == article_id
    assert events[0].data.actor == "agent:坐席2046李娜"
    wait_for(
        lambda: (
            metric(metrics, "feedbackloop_direct_answers_total", labels) >= answered_before + 1
            and metric(metrics, "feedbackloop_consultations_total", labels) >= asked_before + 1
        ),
        what="the direct answer counted",
    )
    rate = metric(metrics, "feedbackloop_direct_answer_rate", labels)
    assert 0 < rate <= 1


def _wechat_text(content: str, openid: str) -> tuple[dict[str, str], str]:
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signer = wechatpy.utils.WeChatSigner()
    signer.add_data(DEV_WECHAT_TOKEN, ts, nonce)
    xml = (
        f"<xml><ToUserName><![CDATA[gh_12345hotline]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{ts}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{uuid.uuid4().int % 10**16}</MsgId></xml>"
    )
    return {"signature": signer.signature, "timestamp": ts, "nonce": nonce}, xml


def test_a_wechat_consultation_is_answered_in_the_reply_and_closed(stack: Stack) -> None:
    followup = stack.services["followup"].url
    operator = credential(stack, Role.OPERATOR)
    urban = credential(stack, Role.DEPARTMENT, "urban")
    place = f"幸福{secrets.token_hex(2).upper()}街道"
    title = f"{place}居住证办理需要哪些材料"
    answer = f"{place}居住证请携带身份证和租房合同到街道便民服务中心办理，10个工作日取证。"
    article(stack, urban, title, answer)
    openid = f"oTest{secrets.token_hex(8)}"
    query, xml = _wechat_text(f"请问{place}居住证办理需要哪些材料？", openid)
    reply = httpx.post(
        f"{stack.services['intake'].url}/api/v1/wechat", params=query, content=xml, timeout=5
    )
    assert reply.status_code == 200, reply.text
    message = wechatpy.parse_message(reply.text)
    assert title in message.content and "回复“人工”" in message.content
    number = message.content.split("工单号 ")[1].split("）")[0]
    ticket = wait_for(
        lambda: closed_directly(followup, number, operator), what="the WeChat consultation closed"
    )
    assert ticket["department_code"] == "urban" and answer in ticket["reply"]
