"""The pause request in the browser: the department asks on the ticket page, the centre decides
on its console, and the clocks stop only then."""

from fastapi.testclient import TestClient

from tests.followup.conftest import Desk
from tests.followup.test_web import API, open_ticket, sign_in, token_of


def sla_state(desk: Desk, no: str) -> str:
    reply = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"])
    return str(reply.json()["sla_state"])


def test_a_department_asks_to_pause_and_an_operator_approves_on_the_console(desk: Desk) -> None:
    no = open_ticket(desk)
    csrf = sign_in(desk.client, token_of(desk, "water"))
    desk.client.post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf})
    asked = desk.client.post(
        f"/workbench/tickets/{no}/pause", data={"csrf": csrf, "reason": "等待市民约定入户时间"}
    )
    assert asked.status_code == 200 and "话务中心同意前计时继续" in asked.text
    assert sla_state(desk, no) == "on_time"

    operator = TestClient(desk.client.app)
    operator_csrf = sign_in(operator, token_of(desk, "operator"))
    listing = operator.get("/workbench/extensions")
    assert f'data-pause="{no}"' in listing.text and "等待市民约定入户时间" in listing.text
    decided = operator.post(
        f"/workbench/tickets/{no}/pause/decision", data={"csrf": operator_csrf, "approve": "yes"}
    )
    assert f"已同意工单 {no} 的暂停计时申请，计时已暂停" in decided.text
    assert f'data-pause="{no}"' not in decided.text
    assert sla_state(desk, no) == "paused"
    again = operator.post(
        f"/workbench/tickets/{no}/pause/decision", data={"csrf": operator_csrf, "approve": "no"}
    )
    assert again.status_code == 409 and "没有待审批的暂停计时申请" in again.text
