"""并单 and 拆分 on the running stack: the router's near-duplicate shows on the centre's 并单拆分
page in Chromium, one click merges it and the master's answer reaches the follower; a split's
children go back through the router, each to its own unit, and the centre can undo it."""

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import FEEDBACK_ROUTED, TICKET_EVENTS
from services.followup.auth import Role
from tests.browser.support import DESKTOP, assert_every_control_is_labelled, screenshot
from tests.integration.conftest import find_events, wait_for
from tests.integration.test_consoles import credential, submit, ticket_api, workbench_sign_in

pytestmark = pytest.mark.integration
API = "/api/v1/workbench"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def act(followup: str, no: str, action: str, body: dict, token: str) -> dict:
    reply = httpx.post(
        f"{followup}{API}/tickets/{no}/{action}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_the_centre_merges_a_suggested_duplicate_and_its_citizen_gets_the_masters_answer(
    stack: Stack, context: BrowserContext, kafka: LocalKafka
) -> None:
    followup = stack.services["followup"].url
    water = credential(stack, Role.DEPARTMENT, "water")
    operator = credential(stack, Role.OPERATOR)
    place = f"锦绣{secrets.token_hex(2).upper()}小区"  # nobody else's near-duplicate
    text = f"{place}5栋的自来水停了两天，物业不管，请尽快派人处理。"
    master = submit(stack, title="小区停水", text=text)
    wait_for(lambda: ticket_api(followup, master, water), what="the first at the water unit")
    other = submit(stack, title="小区停水", text=text.replace("两天", "两天了"))

    def suggested() -> bool:
        reply = httpx.get(
            f"{followup}{API}/merge-suggestions",
            headers={"Authorization": f"Bearer {operator}"},
            timeout=5,
        )
        return any(s["ticket_no"] == other and s["master_no"] == master for s in reply.json())

    wait_for(suggested, what="the router's near-duplicate as a 并单 suggestion")

    page = context.new_page()
    workbench_sign_in(page, followup, operator)
    page.get_by_role("link", name="并单拆分").click()
    expect(page.get_by_role("heading", name="并单建议")).to_be_visible()
    row = page.locator(f'tr[data-ticket="{other}"]')
    expect(row).to_contain_text(master)
    expect(row).to_contain_text(place)
    assert_every_control_is_labelled(page)
    screenshot(page, "operator-merge-suggestions")
    row.get_by_role("button", name=f"并单：工单 {other} 并入 {master}").click()
    expect(page.get_by_role("status").first).to_contain_text(f"已将工单 {other} 并入主工单")
    expect(page.locator(f'tr[data-ticket="{other}"]')).to_have_count(0)
    page.goto(f"{followup}/workbench/tickets/{other}")
    expect(page.locator("#repeat-of")).to_contain_text(master)

    act(followup, master, "accept", {}, water)
    answer = f"已联系供水公司抢修，{place}5栋今日18时恢复供水。"
    act(followup, master, "resolve", {"text": answer}, water)

    def followed() -> Any:
        seen = ticket_api(followup, other, operator)
        return seen if seen and seen["state"] == "resolved" else None

    follower = wait_for(followed, what="the follower resolved with its master")
    assert follower["reply"] == answer
    (resolved,) = find_events(
        kafka.bootstrap,
        TICKET_EVENTS,
        lambda e: e.data.ticket_no == other and e.data.kind == "resolved",
    )
    assert resolved.data.reason == answer  # what its citizen is told


def test_a_split_goes_back_through_the_router_and_the_centre_can_undo_it(
    stack: Stack, kafka: LocalKafka
) -> None:
    followup = stack.services["followup"].url
    operator = credential(stack, Role.OPERATOR)
    place = f"锦绣{secrets.token_hex(2).upper()}小区"
    parent = submit(
        stack,
        title="两个问题",
        text=f"{place}3栋停水两天了，另外小区门口的路灯也坏了一个月，晚上很黑。",
    )
    wait_for(lambda: ticket_api(followup, parent, operator), what="the ticket in followup")
    parts = [
        {"text": f"{place}3栋自来水停水两天了，请尽快恢复供水。"},
        {"title": "路灯不亮", "text": f"{place}门口的路灯坏了一个月，晚上很黑，请修理。"},
    ]
    closed = act(
        followup, parent, "split", {"parts": parts, "reason": "一次来电两个问题"}, operator
    )
    assert closed["state"] == "closed"
    children = closed["split_into"]
    routed = find_events(
        kafka.bootstrap,
        FEEDBACK_ROUTED,
        lambda e: e.data.feedback.ticket_no in children,
        count=2,
    )
    assert {e.data.feedback.split_from for e in routed} == {parent}
    opened = [
        wait_for(
            lambda no=no: ticket_api(followup, no, operator), what=f"followup to open child {no}"
        )
        for no in children
    ]
    assert [t["split_from"] for t in opened] == [parent, parent]
    assert [t["text"] for t in opened] == [p["text"] for p in parts]
    assert opened[0]["department_code"] != opened[1]["department_code"], "each to its own unit"

    undone = act(followup, parent, "unsplit", {"reason": "经核实为同一问题"}, operator)
    assert undone["state"] == "triage" and undone["split_into"] == []
    assert all(ticket_api(followup, no, operator)["state"] == "closed" for no in children)
