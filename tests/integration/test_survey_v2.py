"""Survey v2 on the real stack: three questions, and a 不合理诉求 the centre accepts."""

from typing import Any

import httpx
import pytest

from feedbackloop.devstack.credentials import staff_headers
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import TICKET_EVENTS
from tests.integration.conftest import find_events, metric, wait_for
from tests.integration.test_followup import API, answer_survey, find_ticket_id, submit_form

pytestmark = pytest.mark.integration


def test_an_accepted_unreasonable_request_closes_and_leaves_the_unit_s_rates(
    kafka: LocalKafka, stack: Stack
) -> None:
    followup, metrics = stack.services["followup"].url, stack.services["metrics"].url
    store_url = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    unit = staff_headers(
        database_url=store_url, name="市水务局", role="department", department="water"
    )
    centre = staff_headers(database_url=store_url, name="审核员周敏", role="operator")

    def water_rates() -> dict[str, Any]:
        reply = httpx.get(f"{metrics}/api/v1/rates", timeout=10)
        rows = reply.json() if reply.status_code == 200 else []
        return next((r for r in rows if r["department"] == "water"), {"surveys_answered": 0})

    not_solved = {"department": "water"}
    wait_for(lambda: httpx.get(f"{metrics}/api/v1/rates").status_code == 200, what="metrics")
    before = water_rates()["surveys_answered"]
    counted_before = metric(metrics, "feedbackloop_survey_not_solved_total", not_solved)

    ticket_no = submit_form(
        stack.services["intake"].url, "小区水管漏水，要求自来水公司赔偿十万元。"
    )
    path = f"{followup}{API}/tickets/{ticket_no}"
    wait_for(lambda: httpx.get(path, headers=unit).is_success, what="the ticket")
    assert httpx.post(f"{path}/accept", headers=unit, timeout=10).status_code == 200
    resolved = httpx.post(
        f"{path}/resolve",
        headers=unit,
        json={"text": "漏水已修复；赔偿要求无依据，已解释", "unreasonable": True},
        timeout=10,
    )
    assert resolved.status_code == 200, resolved.text
    pending = httpx.get(f"{followup}{API}/unreasonable", headers=centre, timeout=10).json()
    assert ticket_no in [p["ticket_no"] for p in pending]
    decided = httpx.post(
        f"{path}/unreasonable/decision",
        headers=centre,
        json={"accept": True, "reason": "赔偿要求超出政策范围"},
        timeout=10,
    )
    assert decided.status_code == 200, decided.text

    answer_survey(followup, store_url, ticket_no, "not", "dissatisfied")

    closed = httpx.get(path, headers=unit, timeout=10).json()
    assert closed["state"] == "closed"
    ticket_id = find_ticket_id(store_url, ticket_no)
    events = find_events(
        kafka.bootstrap,
        TICKET_EVENTS,
        lambda e: (
            e.subject == ticket_id
            and e.data.kind in ("resolved", "unreasonable_reviewed", "surveyed")
        ),
        count=3,
    )
    by_kind = {e.data.kind.value: e.data for e in events}
    assert by_kind["resolved"].unreasonable == "claimed"
    assert by_kind["unreasonable_reviewed"].unreasonable == "accepted"
    assert (by_kind["surveyed"].contacted, by_kind["surveyed"].solved) == (True, "not")
    # Counted as an answer, but not in water's 解决率 and 满意率.
    wait_for(
        lambda: (
            metric(metrics, "feedbackloop_survey_not_solved_total", not_solved)
            == counted_before + 1
        ),
        what="the answer counted by metrics",
    )
    assert water_rates()["surveys_answered"] == before
