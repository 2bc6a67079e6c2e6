"""A department's pause waits for the 12345 centre's approval; the centre's own is immediate."""

from datetime import UTC, datetime

from tests import factories
from tests.followup.conftest import Desk

API = "/api/v1/workbench"


def accepted(desk: Desk, number: str) -> str:
    item = factories.received("路灯坏了", received_at=datetime.now(UTC), ticket_no=number)
    desk.route(factories.routed(item))
    assert desk.client.post(f"{API}/tickets/{number}/accept", headers=desk.headers["urban"])
    return number


def sla(desk: Desk, number: str) -> str:
    reply = desk.client.get(f"{API}/tickets/{number}", headers=desk.headers["operator"])
    return str(reply.json()["sla_state"])


def test_a_rejected_request_leaves_the_clock_running_and_says_who(desk: Desk) -> None:
    no = accepted(desk, "2611239900101")
    urban, operator = desk.headers["urban"], desk.headers["operator"]
    body = {"reason": "等待市民补充照片"}
    assert (
        desk.client.post(f"{API}/tickets/{no}/pause", headers=urban, json=body).status_code == 202
    )
    rejected = desk.client.post(
        f"{API}/tickets/{no}/pause/decision", headers=operator, json={"approve": False}
    )
    assert rejected.status_code == 200 and sla(desk, no) == "on_time"
    last = rejected.json()["timeline"][-1]
    assert last["actor"] == "operator:话务员小李" and "未获批准" in last["reason"]
    assert desk.client.get(f"{API}/pauses", headers=operator).json() == []
    again = desk.client.post(
        f"{API}/tickets/{no}/pause/decision", headers=operator, json={"approve": True}
    )
    assert again.status_code == 409 and "没有待审批" in again.json()["detail"]


def test_the_centre_pauses_at_once_and_no_one_asks_to_pause_a_paused_clock(desk: Desk) -> None:
    no = accepted(desk, "2611239900112")
    body = {"reason": "市民外出，约定下周现场勘查"}
    now = desk.client.post(f"{API}/tickets/{no}/pause", headers=desk.headers["operator"], json=body)
    assert now.status_code == 200 and now.json()["sla_state"] == "paused"
    asked = desk.client.post(f"{API}/tickets/{no}/pause", headers=desk.headers["urban"], json=body)
    assert asked.status_code == 409 and "已经暂停" in asked.json()["detail"]
    resumed = desk.client.post(f"{API}/tickets/{no}/resume", headers=desk.headers["urban"])
    assert resumed.status_code == 200 and sla(desk, no) == "on_time"
