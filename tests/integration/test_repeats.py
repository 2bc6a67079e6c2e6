"""Repeat callers on the running stack: a citizen who files the same matter again gets it
linked to their open ticket, which the unit works once; the centre can unlink it."""

import secrets
from typing import Any

import httpx
import pytest

from feedbackloop.devstack.credentials import staff_headers
from feedbackloop.devstack.processes import Stack
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration
API = "/api/v1/workbench"


def file(stack: Stack, text: str, phone: str) -> tuple[str, str]:
    """A web item without callback consent (the caller is still known); number, status link."""
    body = {"title": "路灯不亮", "text": text, "contact_phone": phone}
    reply = httpx.post(f"{stack.services['intake'].url}/api/v1/feedback", json=body, timeout=10)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["ticket_no"]), str(reply.json()["status_url"])


def test_a_repeat_is_linked_to_the_callers_open_ticket_and_the_centre_can_unlink_it(
    stack: Stack,
) -> None:
    followup = stack.services["followup"].url
    store = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    operator = staff_headers(database_url=store, name="值班长李强", role="operator")
    phone = f"139{secrets.randbelow(10**8):08d}"  # a caller no other test is
    place = f"锦绣{secrets.token_hex(2).upper()}小区"

    def seen(no: str, state: str) -> Any:
        reply = httpx.get(f"{followup}{API}/tickets/{no}", headers=operator, timeout=5)
        return reply.json() if reply.status_code == 200 and reply.json()["state"] == state else None

    first, _ = file(stack, f"{place}3号楼前的路灯坏了一个多月，晚上很黑，老人走路容易摔倒。", phone)
    wait_for(lambda: seen(first, "routed"), what="the first ticket at its unit")
    again, status_link = file(
        stack, f"{place}3号楼前的路灯还是坏的，晚上很黑，老人走路容易摔倒！", phone
    )
    repeat = wait_for(lambda: seen(again, "merged"), what="the repeat linked to the first")
    assert f"已关联工单 {first}" in repeat["timeline"][-1]["reason"]
    told = httpx.get(status_link, timeout=5)
    assert (
        told.status_code == 200 and f"已并入您此前反映的工单 <strong>{first}</strong>" in told.text
    )
    master = seen(first, "routed")
    assert any(again in (step["reason"] or "") for step in master["timeline"])
    unit = staff_headers(
        database_url=store, name="承办单位", role="department", department=master["department_code"]
    )
    queue = httpx.get(f"{followup}{API}/tickets", headers=unit, timeout=5).json()
    assert first in [t["ticket_no"] for t in queue] and again not in [t["ticket_no"] for t in queue]

    body = {"reason": "市民反映的是另一栋楼"}
    done = httpx.post(f"{followup}{API}/tickets/{again}/unlink", json=body, headers=operator)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "routed"
    queue = httpx.get(f"{followup}{API}/tickets", headers=unit, timeout=5).json()
    assert again in [t["ticket_no"] for t in queue]
