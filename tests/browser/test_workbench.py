"""The department workbench in Chromium: a real followup app under uvicorn on loopback, on a
SQLite store. Each flow checks what the page shows and then what the JSON API returns."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from feedbackloop.events import Attachment, Contact, Location
from services.followup.app import create_api
from tests import factories
from tests.browser.support import (
    DESKTOP,
    PHONE,
    assert_every_control_is_labelled,
    assert_focus_is_visible,
    screenshot,
)
from tests.followup.conftest import Desk, make_desk
from tests.servers import serve_in_thread

API = "/api/v1/workbench"
_numbers = itertools.count(1)


@dataclass
class Workbench:
    """followup served over HTTP, its store, and the credentials' tokens."""

    url: str
    desk: Desk

    def token(self, who: str) -> str:
        return self.desk.headers[who]["Authorization"].removeprefix("Bearer ")

    def api(self, path: str, who: str = "water", **params: str) -> Any:
        reply = httpx.get(f"{self.url}{API}{path}", headers=self.desk.headers[who], params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def open_ticket(self, hours_ago: float = 0, **item: object) -> str:
        number = f"26112330{next(_numbers):05d}"
        received = factories.received(
            str(item.pop("text", "幸福小区3栋自来水管漏水，已经停水两天了")),
            ticket_no=number,
            received_at=datetime.now(UTC) - timedelta(hours=hours_ago),
            title="小区停水",
            **item,
        )
        self.desk.route(factories.routed(received, department="water"))
        return number


@pytest.fixture
def workbench(tmp_path: Path) -> Iterator[Workbench]:
    desk = make_desk(f"sqlite:///{tmp_path / 'followup.db'}")
    with serve_in_thread(create_api(desk.followup)) as url:
        yield Workbench(url, desk)
    desk.client.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def sign_in(page: Page, workbench: Workbench, who: str) -> None:
    page.goto(f"{workbench.url}/workbench/login")
    page.get_by_label("访问凭证").fill(workbench.token(who))
    page.get_by_role("button", name="登录").click()


def test_a_department_signs_in_accepts_and_resolves_a_ticket(
    workbench: Workbench, context: BrowserContext
) -> None:
    late = workbench.open_ticket(hours_ago=30)  # water has 24 h on the wall clock
    soon = workbench.open_ticket(hours_ago=20)  # past the 75% warning moment (18 h)
    fresh = workbench.open_ticket(
        text="幸福小区3栋水管爆裂，联系电话138****5678",
        location=Location(address="幸福小区3栋", district="A3区", lat=39.91, lng=116.39),
        attachments=[Attachment(kind="image", url="https://mmbiz.example/pipe.jpg")],
        contact=Contact(phone_masked="138****5678", callback_consent=True),
    )
    page = context.new_page()
    page.goto(f"{workbench.url}/workbench")
    expect(page).to_have_url(f"{workbench.url}/workbench/login")
    assert_every_control_is_labelled(page)

    # A wrong credential: a 401 page with the message next to the field.
    page.get_by_label("访问凭证").fill("abc.wrong")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#login-token-error")).to_have_text(
        "访问凭证不正确或已停用，请核对后重新输入（凭证由管理员用 add-credential 生成）"
    )
    expect(page.get_by_label("访问凭证")).to_have_attribute("aria-invalid", "true")
    sign_in(page, workbench, "water")

    # The queue: nearest deadline first, each countdown coloured by its SLA state.
    expect(page.get_by_role("heading", name="我的工单")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator(".who")).to_contain_text("市水务局（承办单位）")
    shown = [
        (row.get_attribute("data-ticket"), row.locator(".sla").get_attribute("data-state"))
        for row in rows.all()
    ]
    assert shown == [(late, "overdue"), (soon, "due_soon"), (fresh, "on_time")]
    expect(rows.locator(".sla")).to_have_text(["已超时", "即将到期", "正常"])
    expect(rows.nth(0).locator(".countdown")).to_contain_text("已超时")
    expect(rows.nth(2).locator(".countdown")).to_contain_text("剩余")
    colours = [r.locator(".sla").evaluate("e => getComputedStyle(e).color") for r in rows.all()]
    assert len(set(colours)) == 3  # three states, three colours (and words)
    queue = workbench.api("/tickets")
    assert [(t["ticket_no"], t["sla_state"]) for t in queue] == shown
    assert_every_control_is_labelled(page)
    screenshot(page, "workbench-queue-desktop")

    # Filters.
    page.get_by_label("办结时限").select_option(label="已超时")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-ticket", late)
    overdue = workbench.api("/tickets", overdue="true")
    assert [t["ticket_no"] for t in overdue] == [late]
    page.get_by_label("办结时限").select_option(label="全部")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(3)

    # The ticket page: masked text, attachment, location, timeline.
    page.get_by_role("link", name=fresh).click()
    expect(page.locator("#citizen-text")).to_have_text("幸福小区3栋水管爆裂，联系电话138****5678")
    expect(page.locator("#location")).to_contain_text("幸福小区3栋（A3区）")
    expect(page.locator("#attachments a")).to_have_attribute(
        "href", "https://mmbiz.example/pipe.jpg"
    )
    expect(page.locator("#timeline li")).to_have_count(1)
    expect(page.locator("#state")).to_have_text("已派单")
    assert_every_control_is_labelled(page)

    # Accept (签收).
    page.get_by_role("button", name="签收").click()
    expect(page.get_by_role("status")).to_have_text("已签收，请在办结时限内办理")
    expect(page.locator("#state")).to_have_text("办理中")
    expect(page.locator("#timeline li").last).to_contain_text("签收 · 承办单位 water")
    ticket = workbench.api(f"/tickets/{fresh}")
    assert ticket["state"] == "accepted"
    assert [(e["kind"], e["actor"]) for e in ticket["timeline"]][-1] == (
        "accepted",
        "department:water",
    )

    screenshot(page, "workbench-ticket-desktop")

    # Resolve (办结): an empty result is refused next to the field, then done.
    resolve = page.locator("#action-resolve")
    resolve.locator("summary").click()
    resolve.get_by_role("button", name="办结").click()
    expect(page.locator("#resolve-text-error")).to_have_text("请填写办理结果")
    expect(page.get_by_label("办理结果")).to_have_attribute("aria-invalid", "true")
    assert workbench.api(f"/tickets/{fresh}")["state"] == "accepted"
    page.get_by_label("办理结果").fill("已更换爆裂管段，恢复供水")
    resolve.get_by_role("button", name="办结").click()
    expect(page.get_by_role("status")).to_have_text("已办结，系统将邀请市民回访评价")
    expect(page.locator("#state")).to_have_text("已办结")
    ticket = workbench.api(f"/tickets/{fresh}")
    assert (ticket["state"], ticket["reply"]) == ("resolved", "已更换爆裂管段，恢复供水")
    assert ticket["sla_state"] is None
    expect(page.locator("#action-resolve")).to_have_count(0)  # nothing left to do but notes


def test_the_workbench_works_on_a_phone_with_the_keyboard_alone(
    workbench: Workbench, browser: Browser
) -> None:
    number = workbench.open_ticket(hours_ago=2)
    workbench.open_ticket(hours_ago=21)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{workbench.url}/workbench/login")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("跳到主要内容")
    assert_focus_is_visible(page)
    page.keyboard.press("Tab")
    expect(page.get_by_label("访问凭证")).to_be_focused()
    page.keyboard.type(workbench.token("water"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="我的工单")).to_be_visible()

    # On a phone the table becomes one card per ticket: no header row, no sideways scrolling.
    header = page.locator("thead").bounding_box()
    assert header is not None and header["x"] < 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "workbench-queue-phone")

    for _ in range(20):  # Tab along to the second ticket's link, then open it
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == number:
            break
    expect(page.locator(":focus")).to_have_text(number)
    assert_focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("#state")).to_have_text("已派单")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "签收":
            break
    assert_focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("#state")).to_have_text("办理中")
    assert workbench.api(f"/tickets/{number}")["state"] == "accepted"
    context.close()


def test_an_operator_approves_a_departments_extension_request(
    workbench: Workbench, browser: Browser, context: BrowserContext
) -> None:
    number = workbench.open_ticket(hours_ago=1)
    clerk = context.new_page()
    sign_in(clerk, workbench, "water")
    clerk.get_by_role("link", name=number).click()
    clerk.get_by_role("button", name="签收").click()
    expect(clerk.locator("#state")).to_have_text("办理中")
    extension = clerk.locator("#action-extension")
    extension.locator("summary").click()
    clerk.get_by_label("延长的工作日数").fill("40")
    clerk.get_by_label("申请理由").fill("需要协调施工单位开挖路面")
    extension.get_by_role("button", name="申请延期").click()
    expect(clerk.locator("#extension-working_days-error")).to_have_text("延长的工作日数不能大于30")
    expect(clerk.get_by_label("申请理由")).to_have_value("需要协调施工单位开挖路面")
    clerk.get_by_label("延长的工作日数").fill("3")
    extension.get_by_role("button", name="申请延期").click()
    expect(clerk.get_by_role("status")).to_have_text("延期申请已提交，等待话务中心审批")
    before = workbench.api(f"/tickets/{number}")

    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    operator = desk.new_page()
    sign_in(operator, workbench, "operator")
    expect(operator.get_by_role("heading", name="延期审批")).to_be_visible()
    row = operator.locator(f'tr[data-ticket="{number}"]')
    expect(row).to_contain_text("3 个工作日")
    expect(row).to_contain_text("需要协调施工单位开挖路面")
    assert_every_control_is_labelled(operator)
    screenshot(operator, "operator-extensions")
    row.get_by_role("button", name="同意延期").click()
    expect(operator.get_by_role("status").first).to_have_text(
        f"已同意工单 {number} 的延期申请，办结时限已顺延"
    )
    expect(operator.locator(f'tr[data-ticket="{number}"]')).to_have_count(0)

    assert workbench.api("/extensions", who="operator") == []
    after = workbench.api(f"/tickets/{number}")
    assert after["due_at"] > before["due_at"]
    assert after["timeline"][-1]["kind"] == "extended"
    operator.goto(f"{workbench.url}/workbench/tickets/{number}")
    expect(operator.locator("#timeline li").last).to_contain_text("同意延期")
    desk.close()


def test_a_unit_marks_a_request_unreasonable_and_the_centre_accepts_it(
    workbench: Workbench, browser: Browser, context: BrowserContext
) -> None:
    number = workbench.open_ticket(hours_ago=1, text="要求自来水公司赔偿精神损失费十万元")
    clerk = context.new_page()
    sign_in(clerk, workbench, "water")
    clerk.get_by_role("link", name=number).click()
    clerk.get_by_role("button", name="签收").click()
    resolve = clerk.locator("#action-resolve")
    resolve.locator("summary").click()
    resolve.get_by_label("办理结果").fill("漏水已修复；赔偿要求无政策依据，已当面解释")
    resolve.get_by_label("申请认定为不合理诉求", exact=False).check()
    resolve.get_by_role("button", name="办结").click()
    expect(clerk.get_by_role("status")).to_have_text("已办结，系统将邀请市民回访评价")

    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    operator = desk.new_page()
    sign_in(operator, workbench, "operator")
    expect(operator.get_by_role("heading", name="不合理诉求审核")).to_be_visible()
    row = operator.locator(f'tr[data-unreasonable="{number}"]')
    expect(row).to_contain_text("赔偿要求无政策依据")
    assert_every_control_is_labelled(operator)
    row.get_by_label("审核意见").fill("赔偿要求超出政策范围")
    screenshot(operator, "operator-unreasonable")
    row.get_by_role("button", name="认定为不合理诉求").click()
    expect(operator.get_by_role("status").first).to_have_text(
        f"已认定工单 {number} 为不合理诉求，其评价不计入承办单位解决率、满意率"
    )
    expect(operator.locator(f'tr[data-unreasonable="{number}"]')).to_have_count(0)
    timeline = workbench.api(f"/tickets/{number}")["timeline"]
    assert [step["kind"] for step in timeline][-2:] == ["resolved", "unreasonable_reviewed"]
    operator.goto(f"{workbench.url}/workbench/tickets/{number}")
    expect(operator.locator("#timeline li").last).to_contain_text("不合理诉求审核")
    desk.close()
