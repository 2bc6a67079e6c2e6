"""舆情预警 on the running stack: items about one place arriving in a burst become a surge in
the signals worker, the operators on duty get a notice at their group robot (no personal
datum), metrics counts it, and the centre's warning page in Chromium shows the trend and the
items behind it."""

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events import SurgeDetected
from feedbackloop.events.topics import FEEDBACK_HOTSPOTS
from services.followup.auth import Role
from tests.browser.support import DESKTOP, assert_every_control_is_labelled, screenshot
from tests.integration.conftest import find_events, metric, wait_for
from tests.integration.test_consoles import credential, workbench_sign_in
from tests.robots import Robots

pytestmark = pytest.mark.integration
PHONE = "13912345678"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def test_a_burst_about_one_place_is_a_surge_on_the_warning_page_and_at_the_duty_robot(
    stack: Stack, context: BrowserContext, kafka: LocalKafka, duty_robot: Robots
) -> None:
    intake, followup = stack.services["intake"].url, stack.services["followup"].url
    metrics = stack.services["metrics"].url
    place = f"锦绣{secrets.token_hex(2).upper()}小区"
    before = metric(metrics, "feedbackloop_surges_total", {"dimension": "place"})
    started = time.time()
    numbers = []
    for n in range(6):
        reply = httpx.post(
            f"{intake}/api/v1/feedback",
            json={
                "title": "小区停水",
                "text": f"{place}{n + 1}栋停水两天了，物业没人管！！联系电话{PHONE}",
                "contact_phone": PHONE,
            },
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        numbers.append(reply.json()["ticket_no"])

    (surge,) = find_events(
        kafka.bootstrap,
        FEEDBACK_HOTSPOTS,
        lambda e: isinstance(e.data, SurgeDetected) and e.data.key == place,
        timeout=90,
    )
    assert surge.data.dimension == "place" and surge.data.count == 6
    assert sorted(surge.data.ticket_nos) == sorted(numbers)
    assert surge.data.heated_share == 1.0
    assert surge.data.last_at.timestamp() - started < 60, "found at the burst's sixth item"

    notices = wait_for(
        lambda: [text for path, text in duty_robot.sent() if path == "/duty" and place in text],
        what="the notice to the operators on duty",
    )
    assert notices[0].startswith(f"【12345舆情预警】地点“{place}”近1小时诉求6件")
    assert PHONE not in notices[0] and "停水两天" not in notices[0]
    wait_for(
        lambda: metric(metrics, "feedbackloop_surges_total", {"dimension": "place"}) > before,
        what="metrics to count the surge",
    )

    operator = credential(stack, Role.OPERATOR)
    page = context.new_page()
    workbench_sign_in(page, followup, operator)
    page.get_by_role("link", name="舆情预警").first.click()
    expect(page.get_by_role("heading", name="舆情预警", exact=True)).to_be_visible()
    card = page.locator(f'article[data-key="{place}"]')
    expect(card).to_contain_text("近 1 小时 6 件")
    expect(card.locator("rect")).to_have_count(24)
    card.get_by_text("相关工单").click()
    for number in numbers:
        expect(card.locator(".surge-items")).to_contain_text(number)
    expect(page.locator("body")).not_to_contain_text(PHONE)
    assert_every_control_is_labelled(page)
    screenshot(page, "operator-surge-warnings")
