"""Workflow rules on the running stack: pauses need the centre's approval; operators record
survey answers only for phone callbacks.

The attacks: a department paused its own clock forever without anyone's approval (its SLA
never breached); an operator recorded survey answers for web and WeChat tickets, whose
citizens' own links then answered 409.
"""

import uuid
from typing import Any

import httpx
import pytest

from feedbackloop.devstack.processes import Stack
from services.followup.auth import Role
from tests import factories
from tests.integration.conftest import call_centre_token, wait_for
from tests.integration.test_followup import answer_survey
from tests.security.test_status_lookup import credential, followup_db

pytestmark = pytest.mark.integration

API = "/api/v1/workbench"
TEXT = "幸福小区3栋门口的井盖松动了，车一压就响，晚上有人差点踩空，请城管尽快处理。"


def open_web_ticket(stack: Stack) -> str:
    reply = httpx.post(
        f"{stack.services['intake'].url}/api/v1/feedback",
        json={
            "title": "井盖松动",
            "text": TEXT,
            "contact_phone": factories.fresh_phone(),
            "callback_consent": True,
        },
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["ticket_no"])


def open_hotline_ticket(stack: Stack) -> str:
    intake_db = f"sqlite:///{stack.settings.state_dir.resolve() / 'intake.db'}"
    call = {
        "call_id": f"rules-{uuid.uuid4()}",
        "caller_number": factories.fresh_phone(),
        "started_at": "2026-11-22T09:00:00+08:00",
        "ended_at": "2026-11-22T09:03:00+08:00",
        "agent_id": "A0317",
        "turns": [{"speaker": "caller", "text": TEXT, "start_ms": 0, "end_ms": 6000}],
    }
    reply = httpx.post(
        f"{stack.services['intake'].url}/api/v1/hotline/calls",
        json=call,
        timeout=10,
        headers={"Authorization": f"Bearer {call_centre_token(intake_db)}"},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["ticket_no"])


def department_of(stack: Stack, ticket_no: str) -> dict[str, str]:
    """A credential of the department the router gave the ticket to."""
    followup = stack.services["followup"].url

    def routed() -> dict[str, Any] | None:
        reply = httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", timeout=10)
        found = reply.json() if reply.status_code == 200 else None
        return found if found and found["state"] == "routed" else None

    code = wait_for(routed, what="followup to open the ticket")["department_code"]
    return credential(stack, f"承办单位{code}", Role.DEPARTMENT, code)


def act(stack: Stack, ticket_no: str, action: str, headers: dict, **body: Any) -> httpx.Response:
    url = f"{stack.services['followup'].url}{API}/tickets/{ticket_no}/{action}"
    return httpx.post(url, json=body or None, headers=headers, timeout=10)


def detail(stack: Stack, ticket_no: str, headers: dict) -> dict[str, Any]:
    url = f"{stack.services['followup'].url}{API}/tickets/{ticket_no}"
    reply = httpx.get(url, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_a_department_cannot_pause_its_clock_without_the_centres_approval(stack: Stack) -> None:
    ticket_no = open_web_ticket(stack)
    department = department_of(stack, ticket_no)
    operator = credential(stack, "值班长李强", Role.OPERATOR)
    assert act(stack, ticket_no, "accept", department).status_code == 200

    asked = act(stack, ticket_no, "pause", department, reason="等待市民约定上门勘查时间")
    assert asked.status_code == 202, asked.text
    assert asked.json()["sla_state"] != "paused"  # the clock runs on until approved
    assert detail(stack, ticket_no, department)["sla_state"] != "paused"
    again = act(stack, ticket_no, "pause", department, reason="再次申请暂停")
    assert again.status_code == 409 and "待审批" in again.json()["detail"]
    own = act(stack, ticket_no, "pause/decision", department, approve=True)
    assert own.status_code == 403 and own.headers["content-type"] == "application/problem+json"

    pending = httpx.get(f"{stack.services['followup'].url}{API}/pauses", headers=operator)
    assert pending.status_code == 200
    (request,) = [p for p in pending.json() if p["ticket_no"] == ticket_no]
    assert request["reason"] == "等待市民约定上门勘查时间"
    assert request["requested_by"].startswith("department:")

    approved = act(stack, ticket_no, "pause/decision", operator, approve=True)
    assert approved.status_code == 200, approved.text
    assert approved.json()["sla_state"] == "paused"
    last = approved.json()["timeline"][-1]
    assert (last["kind"], last["actor"]) == ("paused", "operator:值班长李强")
    assert "等待市民约定上门勘查时间" in last["reason"]


def test_operators_record_survey_answers_only_for_phone_callbacks(stack: Stack) -> None:
    followup = stack.services["followup"].url
    operator = credential(stack, "回访员张敏", Role.OPERATOR)
    answer = {"contacted": True, "solved": "solved", "satisfaction": "satisfied"}

    def resolved_and_invited(ticket_no: str) -> None:
        department = department_of(stack, ticket_no)
        assert act(stack, ticket_no, "accept", department).status_code == 200
        assert act(stack, ticket_no, "resolve", department, text="已更换井盖。").status_code == 200
        wait_for(
            lambda: (
                "survey_invited"
                in [e["kind"] for e in detail(stack, ticket_no, operator)["timeline"]]
            ),
            what="the survey invitation",
        )

    web = open_web_ticket(stack)
    resolved_and_invited(web)
    refused = act(stack, web, "survey", operator, **answer)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "电话回访" in refused.json()["detail"]
    # The citizen's own link still works.
    answer_survey(followup, followup_db(stack), web, "solved", "satisfied")

    call = open_hotline_ticket(stack)
    resolved_and_invited(call)
    recorded = act(stack, call, "survey", operator, **answer)
    assert recorded.status_code == 200, recorded.text
    surveyed = [e for e in recorded.json()["timeline"] if e["kind"] == "surveyed"]
    assert [e["actor"] for e in surveyed] == ["operator:回访员张敏"]
