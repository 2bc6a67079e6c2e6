"""主办/协办 on the running stack: an operator assigns a triaged item to a lead unit and a
co-handling unit in the router's console (Chromium); both find it, the co-unit signs and
sends its part on its workbench page, the lead resolves with it, the citizen answers the
survey, and metrics counts the co-unit's own role in its 三率."""

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import FEEDBACK_ROUTED, TICKET_EVENTS, queue_topic
from services.followup.auth import Role
from tests import factories
from tests.browser.support import DESKTOP, assert_every_control_is_labelled, screenshot
from tests.integration.conftest import find_events, wait_for
from tests.integration.test_consoles import OPERATOR, credential, ticket_api, workbench_sign_in
from tests.integration.test_followup import answer_survey

pytestmark = pytest.mark.integration
API = "/api/v1/workbench"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def rates_of(metrics: str, department: str) -> dict[str, Any]:
    reply = httpx.get(f"{metrics}/api/v1/rates", timeout=10)
    rows = reply.json() if reply.status_code == 200 else []
    return next((r for r in rows if r["department"] == department), {})


def test_a_lead_and_a_co_unit_work_one_ticket_and_each_is_rated_for_its_role(
    stack: Stack, context: BrowserContext, kafka: LocalKafka
) -> None:
    router, followup = stack.services["router"].url, stack.services["followup"].url
    metrics = stack.services["metrics"].url
    store_url = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    place = f"关于我们村{secrets.token_hex(2).upper()}组的一些情况反映"
    reply = httpx.post(
        f"{stack.services['intake'].url}/api/v1/feedback",
        json={
            "title": "情况反映",
            "text": place,
            "contact_phone": factories.fresh_phone(),
            "callback_consent": True,
        },
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    number = reply.json()["ticket_no"]
    wait_for(
        lambda: any(
            e["ticket_no"] == number
            for e in httpx.get(f"{router}/api/v1/triage", headers=OPERATOR, timeout=5).json()
        ),
        what="the item in the triage queue",
    )

    # The operator names the lead (the model's first choice) and a co-unit in the console.
    page = context.new_page()
    page.goto(f"{router}/console/login")
    page.get_by_label("姓名或工号").fill("王芳")
    page.get_by_label("接线员凭证").fill("dev-operator-token")
    page.get_by_role("button", name="登录").click()
    item = page.locator(f'article[data-ticket="{number}"]')
    lead = item.locator(".candidates button").first.get_attribute("data-department")
    co = item.locator(".candidates button").nth(1).get_attribute("data-department")
    assert lead and co and lead != co
    item.get_by_label("其他承办单位").select_option(lead)
    item.get_by_label("协办单位").select_option(co)
    assert_every_control_is_labelled(page)
    item.get_by_role("button", name="派给所选单位").click()
    expect(page.get_by_role("status").first).to_contain_text(f"工单 {number} 已派给")
    (routed,) = find_events(
        kafka.bootstrap,
        FEEDBACK_ROUTED,
        lambda e: e.data.feedback.ticket_no == number and e.data.method == "manual",
    )
    assert [u.department_code for u in routed.data.co_handlers] == [co]
    queued = find_events(
        kafka.bootstrap, queue_topic(co), lambda e: e.data.feedback.ticket_no == number
    )
    assert len(queued) == 1  # the co-unit's own queue carries the item too

    lead_token = credential(stack, Role.DEPARTMENT, lead)
    co_token = credential(stack, Role.DEPARTMENT, co)
    before = rates_of(metrics, co).get("assignments_due", 0)
    seen = wait_for(
        lambda: (t := ticket_api(followup, number, co_token)) and t["co_handlers"] and t,
        what="followup to name the co-unit",
    )
    assert seen["department_code"] == lead

    # The co-unit finds it under 协办工单, signs and sends its part on its workbench page.
    clerk = context.new_page()
    workbench_sign_in(clerk, followup, co_token)
    expect(clerk.locator("#co-queue")).to_contain_text(number)
    clerk.locator("#co-queue").get_by_role("link", name=number).click()
    clerk.get_by_role("button", name="签收协办").click()
    expect(clerk.get_by_role("status").first).to_contain_text("已签收协办")
    clerk.locator("#action-co-part summary").click()
    part = f"{place}：本单位已派员核实，相关情况已告知村委会，建议主办单位统一答复。"
    clerk.get_by_label("协办意见").fill(part)
    assert_every_control_is_labelled(clerk)
    screenshot(clerk, "workbench-co-unit-part")
    clerk.get_by_role("button", name="提交协办意见").click()
    expect(clerk.get_by_role("status").first).to_contain_text("协办意见已提交给主办单位")
    expect(clerk.locator(f'#co-handling li[data-unit="{co}"]')).to_contain_text("已提交协办意见")

    # The lead sees the part and resolves; the citizen answers the callback survey.
    headers = {"Authorization": f"Bearer {lead_token}"}
    path = f"{followup}{API}/tickets/{number}"
    assert httpx.post(f"{path}/accept", headers=headers, timeout=10).status_code == 200
    detail = httpx.get(path, headers=headers, timeout=10).json()
    assert detail["co_handlers"][0]["part"] == part
    done = httpx.post(
        f"{path}/resolve", headers=headers, json={"text": "已会同协办单位核实处理。"}, timeout=10
    )
    assert done.status_code == 200, done.text
    answer_survey(followup, store_url, number, "solved", "satisfied")

    kinds = [
        (e.data.kind, e.data.co_department_code)
        for e in find_events(
            kafka.bootstrap,
            TICKET_EVENTS,
            lambda e: e.data.ticket_no == number and e.data.kind.startswith("cohandler"),
            count=3,
        )
    ]
    assert kinds == [
        ("cohandler_assigned", co),
        ("cohandler_accepted", co),
        ("cohandler_submitted", co),
    ]

    def counted() -> dict[str, Any] | None:
        row = rates_of(metrics, co)
        return row if row.get("assignments_due", 0) > before and row["surveys_answered"] else None

    row = wait_for(counted, what="metrics to count the co-unit's 签收 and the survey")
    assert row["response_rate"] is not None and row["satisfaction_rate"] is not None
