"""The department workbench API: queues, actions, the state machine, who may see what."""

import itertools
from datetime import UTC, datetime

import pytest

from feedbackloop.events import Priority
from tests import factories
from tests.followup.conftest import Desk

API = "/api/v1/workbench"
_numbers = itertools.count(1)


def open_ticket(desk: Desk, text: str = "路灯坏了", **routed: object) -> str:
    number = f"26112310{next(_numbers):05d}"
    item = factories.received(text, received_at=datetime.now(UTC), ticket_no=number)
    desk.route(factories.routed(item, **routed))  # type: ignore[arg-type]
    return item.data.ticket_no


@pytest.fixture
def urban(desk: Desk) -> dict[str, str]:
    return desk.headers["urban"]


def test_a_department_works_a_ticket_from_accept_to_resolve(
    desk: Desk, urban: dict[str, str]
) -> None:
    no = open_ticket(desk)
    assert (
        desk.client.post(f"{API}/tickets/{no}/accept", headers=urban).json()["state"] == "accepted"
    )
    noted = desk.client.post(
        f"{API}/tickets/{no}/notes", headers=urban, json={"text": "已派人查看"}
    )
    assert noted.json()["state"] == "accepted"
    replied = desk.client.post(
        f"{API}/tickets/{no}/replies", headers=urban, json={"text": "维修人员明天上午到场"}
    )
    assert replied.status_code == 200
    resolved = desk.client.post(
        f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "路灯已更换，恢复照明"}
    ).json()
    assert (resolved["state"], resolved["reply"]) == ("resolved", "路灯已更换，恢复照明")
    timeline = [(e["kind"], e["actor"]) for e in resolved["timeline"]]
    assert timeline == [
        ("opened", "system"),
        ("accepted", "department:urban"),
        ("noted", "department:urban"),
        ("replied", "department:urban"),
        ("resolved", "department:urban"),
    ]


def test_an_illegal_transition_answers_409_with_the_reason(
    desk: Desk, urban: dict[str, str]
) -> None:
    no = open_ticket(desk)
    response = desk.client.post(f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "好了"})
    assert response.status_code == 409
    assert "已派单" in response.json()["detail"] and "不能办结" in response.json()["detail"]
    desk.client.post(f"{API}/tickets/{no}/accept", headers=urban)
    again = desk.client.post(f"{API}/tickets/{no}/accept", headers=urban)
    assert again.status_code == 409 and "不能签收" in again.json()["detail"]


def test_a_department_never_sees_or_changes_another_departments_ticket(desk: Desk) -> None:
    no = open_ticket(desk)  # routed to urban
    water = desk.headers["water"]
    for method, path, body in [
        ("get", f"{API}/tickets/{no}", None),
        ("post", f"{API}/tickets/{no}/accept", None),
        ("post", f"{API}/tickets/{no}/resolve", {"text": "不是我们的"}),
        ("post", f"{API}/tickets/{no}/return", {"reason": "不是我们的", "reason_code": "other"}),
    ]:
        response = desk.client.request(method, path, headers=water, json=body)
        missing = desk.client.request(
            method, path.replace(no, "2600000000000"), headers=water, json=body
        )
        assert response.status_code == missing.status_code == 404, path
        assert response.json()["detail"].replace(no, "X") == missing.json()["detail"].replace(
            "2600000000000", "X"
        )  # the same answer: existence does not leak
    assert desk.client.get(f"{API}/tickets", headers=water).json() == []
    assert [
        t["ticket_no"]
        for t in desk.client.get(f"{API}/tickets", headers=desk.headers["urban"]).json()
    ] == [no]


def test_requests_without_a_valid_credential_are_refused(desk: Desk) -> None:
    no = open_ticket(desk)
    for headers in [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]:
        response = desk.client.get(f"{API}/tickets/{no}", headers=headers)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    token = desk.headers["urban"]["Authorization"]
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert desk.client.get(f"{API}/tickets", headers={"Authorization": forged}).status_code == 401


def test_roles_decide_who_approves_extensions_and_closes(desk: Desk, urban: dict[str, str]) -> None:
    no = open_ticket(desk)
    decision = {"approve": True}
    refused = desk.client.post(
        f"{API}/tickets/{no}/extension/decision", headers=urban, json=decision
    )
    assert refused.status_code == 403
    assert desk.client.get(f"{API}/extensions", headers=urban).status_code == 403
    close = desk.client.post(
        f"{API}/tickets/{no}/close", headers=desk.headers["operator"], json={"reason": "已处理"}
    )
    assert close.status_code == 403


def test_the_queue_is_sorted_by_deadline_and_filters(desk: Desk, urban: dict[str, str]) -> None:
    general = open_ticket(desk, "人行道破损")
    urgent = open_ticket(desk, "井盖丢失有人掉下去", priority=Priority.URGENT)
    queue = desk.client.get(f"{API}/tickets", headers=urban).json()
    assert [t["ticket_no"] for t in queue] == [urgent, general]
    soon = desk.client.get(f"{API}/tickets", headers=urban, params={"due_within_hours": 3}).json()
    assert [t["ticket_no"] for t in soon] == [urgent]
    assert desk.client.get(f"{API}/tickets", headers=urban, params={"overdue": True}).json() == []
    desk.client.post(f"{API}/tickets/{general}/accept", headers=urban)
    accepted = desk.client.get(f"{API}/tickets", headers=urban, params={"state": "accepted"}).json()
    assert [t["ticket_no"] for t in accepted] == [general]


def test_bad_input_gets_a_clear_4xx(desk: Desk, urban: dict[str, str]) -> None:
    no = open_ticket(desk)
    desk.client.post(f"{API}/tickets/{no}/accept", headers=urban)
    empty = desk.client.post(f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "   "})
    assert empty.status_code == 422 and "text" in empty.json()["detail"]
    too_long = desk.client.post(
        f"{API}/tickets/{no}/extension", headers=urban, json={"working_days": 99, "reason": "太忙"}
    )
    assert too_long.status_code == 422 and "working_days" in too_long.json()["detail"]
    twice = {"working_days": 2, "reason": "需要现场勘查"}
    assert desk.client.post(f"{API}/tickets/{no}/extension", headers=urban, json=twice).is_success
    again = desk.client.post(f"{API}/tickets/{no}/extension", headers=urban, json=twice)
    assert again.status_code == 409 and "待审批" in again.json()["detail"]
    assert desk.client.post(f"{API}/tickets/{no}/resume", headers=urban).status_code == 409
