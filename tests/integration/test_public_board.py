"""公开栏 on the running stack, in Chromium: a citizen files on the web form with consent, the
unit answers, the item shows on /board masked with its reply and the filters find it; an
operator withholds it (暂不公开) and it is gone from the board."""

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.auth import Role
from tests.browser.support import DESKTOP, PHONE, assert_every_control_is_labelled, screenshot
from tests.integration.conftest import find_events, wait_for
from tests.integration.test_consoles import credential, ticket_api, workbench_sign_in

pytestmark = pytest.mark.integration
API = "/api/v1/workbench"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def file_on_the_form(page: Page, intake: str, text: str) -> str:
    """A citizen files on the web form, ticking 同意公开; the ticket number shown."""
    page.goto(f"{intake}/form")
    page.get_by_label("标题").fill("小区停水")
    page.get_by_label("诉求内容").fill(text)
    page.get_by_label("所在区县").select_option("A3区")
    consent = page.get_by_label("同意公开（隐去个人信息后在公开栏展示诉求和答复）")
    expect(consent).not_to_be_checked()  # off unless the citizen ticks it
    consent.check()
    page.get_by_role("button", name="提交诉求").click()
    number = page.locator(".ticket").first.inner_text().strip()
    assert re.fullmatch(r"\d{13,20}", number), number
    return number


def act(followup: str, no: str, action: str, body: dict[str, Any], token: str) -> None:
    reply = httpx.post(
        f"{followup}{API}/tickets/{no}/{action}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def test_an_answered_item_with_consent_is_on_the_board_masked_until_withheld(
    stack: Stack, context: BrowserContext, browser: Browser, kafka: LocalKafka
) -> None:
    intake, followup = stack.services["intake"].url, stack.services["followup"].url
    operator = credential(stack, Role.OPERATOR)
    place = f"幸福{secrets.token_hex(2).upper()}小区"  # no other test's words
    phone = f"139{secrets.randbelow(10**8):08d}"
    text = (
        f"我叫王小明，{place}3栋2单元501室的自来水管漏水，已经停水两天了，"
        f"我的电话{phone}，车牌湘A12345的车也停在那里。<script>alert(1)</script>"
    )
    page = context.new_page()
    number = file_on_the_form(page, intake, text)
    # 停水 is an operator rule's keyword: the water unit gets it without triage.
    opened = wait_for(lambda: ticket_api(followup, number, operator), what="the ticket")
    assert opened["state"] == "routed", opened["state"]
    unit = credential(stack, Role.DEPARTMENT, opened["department_code"])
    page.goto(f"{followup}/board/{number}")
    expect(page.get_by_role("alert")).to_contain_text("公开栏中没有这条诉求")  # no reply yet

    act(followup, number, "accept", {}, unit)
    reply = f"已联系王先生（{phone}），更换了{place}3栋的漏水管段，恢复供水。"
    act(followup, number, "resolve", {"text": reply}, unit)
    (published,) = find_events(
        kafka.bootstrap,
        TICKET_EVENTS,
        lambda e: e.data.ticket_no == number and e.data.kind == "published",
    )
    assert published.data.publication.district == "A3区"

    page.goto(f"{followup}/board")
    page.get_by_label("搜索诉求和答复").fill(place)
    page.get_by_label("区县").select_option("A3区")
    page.get_by_label("办结时间").select_option("7")
    page.get_by_role("button", name="查询").click()
    item = page.locator(f'article[data-ticket="{number}"]')
    expect(item).to_contain_text(f"{place}[门牌]的自来水管漏水")
    expect(item).to_contain_text("漏水管段，恢复供水")
    expect(page.locator("#board-total")).to_contain_text("共 1 条")
    shown = item.inner_text()
    for personal in ("王小明", phone, "501", "湘A12345", "王先生"):
        assert personal not in shown, personal
    assert page.evaluate("() => window.__xss === undefined")
    expect(item).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    assert_every_control_is_labelled(page)
    screenshot(page, "public-board")
    # The lists offer what the board holds; another district finds nothing.
    page.goto(f"{followup}/board?q={place}&district=A1区")
    expect(page.locator("#board-total")).to_contain_text("共 0 条")

    phone_view = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    mobile = phone_view.new_page()
    mobile.goto(f"{followup}/board?q={place}")
    expect(mobile.locator(f'article[data-ticket="{number}"]')).to_be_visible()
    width = mobile.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the board scrolls sideways on a phone: {width}px"
    screenshot(mobile, "public-board-mobile")
    phone_view.close()

    centre = context.new_page()
    workbench_sign_in(centre, followup, operator)
    centre.get_by_role("link", name="公开审核").click()
    row = centre.locator(f'tr[data-ticket="{number}"]')
    row.get_by_label("暂不公开的理由").fill("文字中含有邻居的车辆信息，核实后再公开")
    row.get_by_role("button", name="暂不公开").click()
    expect(centre.get_by_role("status").first).to_contain_text(f"工单 {number} 已设为暂不公开")
    expect(centre.locator(f'#withheld tr[data-ticket="{number}"]')).to_be_visible()
    page.goto(f"{followup}/board?q={place}")
    expect(page.locator("#board-total")).to_contain_text("共 0 条")
    gone = page.goto(f"{followup}/board/{number}")
    assert gone is not None and gone.status == 404
    find_events(
        kafka.bootstrap,
        TICKET_EVENTS,
        lambda e: e.data.ticket_no == number and e.data.kind == "unpublished",
    )
