"""The consoles in Chromium against the running stack, where a flow crosses services:
an operator's triage assignment in the router reaches the department's queue in followup
and the 三率 table in metrics; a department's return, once the centre approves it, is
re-routed by the router (twice returned, the dispatch desk decides, with an alert); a burst
of items shows up as a hotspot. Each flow checks the page and then the JSON API."""

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from feedbackloop.devstack.processes import Stack
from services.followup import auth
from services.followup.auth import Role
from services.followup.database import open_store
from tests.browser.support import DESKTOP, assert_every_control_is_labelled, screenshot
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

OPERATOR = {"Authorization": "Bearer dev-operator-token"}  # the stack's development token
API = "/api/v1/workbench"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def credential(stack: Stack, role: Role, department: str | None = None) -> str:
    """A new workbench credential in the stack's followup store; its token."""
    store = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    with open_store(store).begin() as session:
        return auth.create_credential(
            session=session,
            name=department or "话务员",
            role=role,
            department_code=department,
            now=datetime.now(UTC),
        )


def submit(stack: Stack, **body: object) -> str:
    reply = httpx.post(f"{stack.services['intake'].url}/api/v1/feedback", json=body, timeout=10)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["ticket_no"])


def workbench_sign_in(page: Page, followup: str, token: str) -> None:
    page.goto(f"{followup}/workbench/login")
    page.get_by_label("访问凭证").fill(token)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".who")).to_be_visible()


def ticket_api(followup: str, ticket_no: str, token: str) -> Any:
    reply = httpx.get(
        f"{followup}{API}/tickets/{ticket_no}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    return reply.json() if reply.status_code == 200 else None


def test_a_triage_assignment_reaches_the_departments_queue_and_the_league_table(
    stack: Stack, context: BrowserContext
) -> None:
    router, followup = stack.services["router"].url, stack.services["followup"].url
    metrics = stack.services["metrics"].url
    number = submit(stack, title="情况反映", text="关于我们村的一些情况反映")
    wait_for(
        lambda: any(
            e["ticket_no"] == number
            for e in httpx.get(f"{router}/api/v1/triage", headers=OPERATOR, timeout=5).json()
        ),
        what="the item in the triage queue",
    )

    page = context.new_page()
    page.goto(f"{router}/console/triage")
    expect(page).to_have_url(f"{router}/console/login")
    page.get_by_label("姓名或工号").fill("王芳")
    page.get_by_label("接线员凭证").fill("dev-operator-token")
    page.get_by_role("button", name="登录").click()
    item = page.locator(f'article[data-ticket="{number}"]')
    expect(item).to_contain_text("关于我们村的一些情况反映")
    candidates = item.locator(".candidates button")
    expect(candidates).to_have_count(3)
    expect(candidates.first).to_contain_text("%）")
    assert_every_control_is_labelled(page)
    screenshot(page, "console-triage-desktop")

    choice = candidates.first
    department = choice.get_attribute("data-department")
    assert department
    choice.click()
    expect(page.get_by_role("status").first).to_contain_text(f"工单 {number} 已派给")
    expect(page.locator(f'article[data-ticket="{number}"]')).to_have_count(0)
    waiting = httpx.get(f"{router}/api/v1/triage", headers=OPERATOR, timeout=5).json()
    assert number not in [e["ticket_no"] for e in waiting]

    # followup applies the assignment: the ticket is in that department's queue.
    token = credential(stack, Role.DEPARTMENT, department)
    routed = wait_for(
        lambda: (t := ticket_api(followup, number, token)) and t["state"] == "routed" and t,
        what="followup to apply the assignment",
    )
    assert ("rerouted", "operator:王芳") in [(e["kind"], e["actor"]) for e in routed["timeline"]]
    clerk = context.new_page()
    workbench_sign_in(clerk, followup, token)
    clerk.get_by_role("link", name=number).click()
    clerk.get_by_role("button", name="签收").click()
    expect(clerk.locator("#state")).to_have_text("办理中")
    accepted = ticket_api(followup, number, token)
    assert accepted is not None and accepted["state"] == "accepted"

    # metrics counts the accept in time: the department's 响应率 in the league table.
    def league_row() -> Any:
        reply = httpx.get(f"{metrics}/api/v1/rates", params={"sort": "response"}, timeout=5)
        if reply.status_code != 200:
            return None
        rows = [r for r in reply.json() if r["department"] == department]
        return rows[0] if rows and rows[0]["assignments_due"] else None

    row = wait_for(league_row, what="metrics to count the accept")
    rates = context.new_page()
    rates.goto(f"{metrics}/rates?sort=response")
    shown = rates.locator(f'tr[data-department="{department}"]')
    response_rate = row["response_rate"]
    assert isinstance(response_rate, float)
    expect(shown.locator('[data-rate="response"]')).to_contain_text(f"{response_rate * 100:.1f}%")
    expect(shown.locator("td").first).to_have_text(str(row["rank"]))
    assert_every_control_is_labelled(rates)
    screenshot(rates, "metrics-league-table")


def ask_return(page: Page, code_label: str, reason: str) -> None:
    form = page.locator("#action-return")
    if form.get_attribute("open") is None:  # a refused form comes back open
        form.locator("summary").click()
    form.get_by_label("退单原因").select_option(label=code_label)
    form.get_by_label("退单理由").fill(reason)
    form.get_by_role("button", name="申请退单").click()


def review_return(page: Page, followup: str, number: str, verdict: str, reason: str) -> None:
    page.goto(f"{followup}/workbench/extensions")
    row = page.locator(f'tr[data-return="{number}"]')
    row.get_by_label("审核意见").fill(reason)
    row.get_by_role("button", name=f"{verdict}：工单 {number}", exact=True).click()


def test_a_return_is_reviewed_by_the_centre_before_the_router_re_routes_it(
    stack: Stack, context: BrowserContext, browser: Browser
) -> None:
    followup = stack.services["followup"].url
    water = credential(stack, Role.DEPARTMENT, "water")
    operator = credential(stack, Role.OPERATOR)
    number = submit(
        stack,
        title="小区停水",
        text="幸福小区5栋自来水停了一天，物业不管，请处理。我的电话13812345678。",
        location="A市A3区幸福小区5栋",
    )
    wait_for(lambda: ticket_api(followup, number, water), what="the ticket at the water department")

    clerk = context.new_page()
    workbench_sign_in(clerk, followup, water)
    clerk.get_by_role("link", name=number).click()
    expect(clerk.locator("#citizen-text")).to_contain_text(
        "我的电话138****5678"
    )  # masked at intake
    expect(clerk.locator("#location")).to_contain_text("A市A3区幸福小区5栋")
    form = clerk.locator("#action-return")
    form.locator("summary").click()
    form.get_by_label("退单理由").fill("否")
    form.get_by_role("button", name="申请退单").click()
    expect(clerk.locator("#return-reason_code-error")).to_have_text("请选择退单原因")
    expect(clerk.locator("#return-reason-error")).to_have_text("请填写退单理由，至少2个字")
    ask_return(clerk, "不属于本单位职责", "小区内部供水设施由物业负责，不属于市政供水管网")
    expect(clerk.get_by_role("status").first).to_contain_text("退单申请已提交")
    expect(clerk.locator("#return-pending")).to_contain_text("待 12345 中心审核")
    expect(clerk.locator("#action-return")).to_have_count(0)  # one return at a time
    waiting = ticket_api(followup, number, water)
    assert (waiting["state"], waiting["department_code"]) == ("routed", "water")

    # The centre refuses: the unit keeps the ticket and reads why.
    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    centre = desk.new_page()
    workbench_sign_in(centre, followup, operator)
    centre.goto(f"{followup}/workbench/extensions")
    expect(centre.get_by_role("heading", name="退单审核")).to_be_visible()
    expect(centre.locator(f'tr[data-return="{number}"]')).to_contain_text("不属于本单位职责")
    assert_every_control_is_labelled(centre)
    screenshot(centre, "operator-return-review")
    review_return(
        centre, followup, number, "不同意退单", "幸福小区供水设施已于去年移交市政，请继续办理"
    )
    expect(centre.get_by_role("status").first).to_have_text(
        f"已不同意工单 {number} 退单，原承办单位继续办理"
    )
    clerk.reload()
    expect(clerk.locator("#timeline li").last).to_contain_text("退单未获同意")
    expect(clerk.locator("#timeline li").last).to_contain_text("已于去年移交市政")
    assert ticket_api(followup, number, water)["department_code"] == "water"

    # Asked again and approved: the router sends it on, never back to water.
    ask_return(clerk, "应由其他单位主办", "楼内管道属物业维修范围，应由住房和城乡建设部门督促物业")
    expect(clerk.get_by_role("status").first).to_contain_text("退单申请已提交")
    review_return(centre, followup, number, "同意退单", "经核实，楼内管道不属市政管网")
    expect(centre.get_by_role("status").first).to_have_text(
        f"已同意工单 {number} 退单，正在改派其他承办单位"
    )

    def rerouted() -> Any:
        seen = ticket_api(followup, number, operator)
        kinds = [e["kind"] for e in seen["timeline"]] if seen else []
        return seen if kinds[-2:] == ["returned", "rerouted"] else None

    ticket = wait_for(rerouted, what="the router to send the ticket on")
    assert ticket["department_code"] != "water"
    kinds = [e["kind"] for e in ticket["timeline"]]
    assert kinds.count("return_requested") == 2 and kinds.count("return_refused") == 1
    returned = [e for e in ticket["timeline"] if e["kind"] == "returned"]
    assert returned[0]["actor"] == "operator:话务员"
    assert "楼内管道属物业维修范围" in returned[0]["reason"]
    assert ticket_api(followup, number, water) is None  # no longer water's to see
    clerk.goto(f"{followup}/workbench")
    expect(clerk.get_by_role("heading", name="我的工单")).to_be_visible()
    expect(clerk.locator(f'tr[data-ticket="{number}"]')).to_have_count(0)
    desk.close()


def bounced(metrics: str) -> float:
    text = httpx.get(f"{metrics}/metrics", timeout=5).text
    line = next(
        (x for x in text.splitlines() if x.startswith("feedbackloop_tickets_bounced_total")), ""
    )
    return float(line.split()[-1]) if line else 0.0


def test_a_ticket_returned_twice_goes_to_the_dispatch_desk_with_an_alert(stack: Stack) -> None:
    followup, router = stack.services["followup"].url, stack.services["router"].url
    metrics = stack.services["metrics"].url
    token = credential(stack, Role.OPERATOR)
    operator = {"Authorization": f"Bearer {token}"}
    before = bounced(metrics)
    number = submit(
        stack, title="路灯不亮", text="建设路东口的路灯坏了一个多月，晚上很黑，请修理。"
    )
    units: list[str] = []

    def at_a_new_unit() -> Any:
        ticket = ticket_api(followup, number, token)
        fresh = ticket and ticket["state"] == "routed" and ticket["department_code"] not in units
        return ticket if fresh else None

    for turn in (1, 2):
        ticket = wait_for(at_a_new_unit, what=f"the ticket at a unit it was not at ({turn})")
        unit = ticket["department_code"]
        units.append(unit)
        clerk = {"Authorization": f"Bearer {credential(stack, Role.DEPARTMENT, unit)}"}
        path = f"{followup}{API}/tickets/{number}"
        why = {"reason_code": "not_our_duty", "reason": "不属于本单位职责范围"}
        assert httpx.post(f"{path}/return", json=why, headers=clerk, timeout=10).is_success
        decision = {"approve": True, "reason": "同意改派"}
        reply = httpx.post(f"{path}/return/decision", json=decision, headers=operator, timeout=10)
        assert reply.status_code == 200, reply.text

    def at_the_desk() -> Any:
        items = httpx.get(f"{router}/api/v1/triage", headers=OPERATOR, timeout=5).json()
        return next((i for i in items if i["ticket_no"] == number), None)

    item = wait_for(at_the_desk, what="the twice-returned ticket in the dispatch desk's queue")
    assert not {c["department_code"] for c in item["candidates"]} & set(units)
    wait_for(lambda: bounced(metrics) >= before + 1, what="the bounce counted for the alert")


def test_a_burst_about_one_place_shows_as_a_hotspot(stack: Stack, context: BrowserContext) -> None:
    router = stack.services["router"].url
    place = f"翠湖{secrets.token_hex(2).upper()}花园"  # a place no other test names
    numbers = [
        submit(stack, title="路灯坏了", text=f"{place}门口的路灯坏了一个多月，晚上很黑，请修理。")
        for _ in range(5)
    ]

    def spot() -> Any:
        found = httpx.get(f"{router}/api/v1/hotspots", headers=OPERATOR, timeout=5).json()
        return next((h for h in found if h["place"] == place), None)

    hotspot = wait_for(spot, what="the router to report the hotspot")
    assert sorted(hotspot["ticket_nos"]) == sorted(numbers)

    page = context.new_page()
    page.goto(f"{router}/console/login")
    page.get_by_label("姓名或工号").fill("李明")
    page.get_by_label("接线员凭证").fill("dev-operator-token")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="热点").click()
    row = page.locator(f'tr[data-place="{place}"]')
    expect(row).to_contain_text("5 件（24 小时内）")
    expect(row.locator("a")).to_have_count(5)
    expect(row.locator("a").first).to_have_attribute(
        "href",
        f"{stack.services['followup'].url}/workbench/tickets/{hotspot['ticket_nos'][0]}",
    )
