"""退单 under the centre's review: a unit asks, only the centre decides, and the event the
router re-routes on is published only when the centre approves."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feedbackloop.events import TicketEvent, decode
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.models import OutboxMessage, Ticket
from services.followup.returns import REASONS
from services.followup.schemas import public_ticket
from tests import factories
from tests.followup.conftest import Desk

API = "/api/v1/workbench"
_numbers = itertools.count(1)
WHY = {"reason_code": "not_our_duty", "reason": "小区内部供水设施由物业负责，不属于市政管网"}


def open_ticket(desk: Desk) -> str:
    number = f"26112330{next(_numbers):05d}"
    item = factories.received("小区停水", received_at=datetime.now(UTC), ticket_no=number)
    desk.route(factories.routed(item))  # routed to urban
    return number


def published(desk: Desk, no: str) -> list[TicketEvent]:
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        events = [decode(row.payload).data for row in rows if row.topic == TICKET_EVENTS]
    return [e for e in events if isinstance(e, TicketEvent) and e.ticket_no == no]


def ask(desk: Desk, no: str, **body: str) -> tuple[int, dict]:
    reply = desk.client.post(
        f"{API}/tickets/{no}/return", headers=desk.headers["urban"], json=body or WHY
    )
    return reply.status_code, reply.json()


def decide(desk: Desk, no: str, approve: bool, who: str = "operator") -> tuple[int, dict]:
    reply = desk.client.post(
        f"{API}/tickets/{no}/return/decision",
        headers=desk.headers[who],
        json={"approve": approve, "reason": "经核实，该小区供水设施已移交市政管理"},
    )
    return reply.status_code, reply.json()


def test_a_return_waits_for_the_centre_and_the_unit_stays_responsible(desk: Desk) -> None:
    no = open_ticket(desk)
    status, ticket = ask(desk, no)
    assert status == 200, ticket
    assert ticket["state"] == "routed"  # still the unit's ticket, its clocks running
    assert ticket["department_code"] == "urban"
    assert ticket["return_pending"]["reason_label"] == REASONS["not_our_duty"]
    assert datetime.fromisoformat(ticket["due_at"]) - datetime.now(UTC) > timedelta(days=1)
    kinds = [e.kind for e in published(desk, no)]
    assert kinds == ["opened", "return_requested"]  # nothing the router re-routes on yet
    (asked,) = [e for e in published(desk, no) if e.kind == "return_requested"]
    assert asked.return_code == "not_our_duty" and "物业负责" in (asked.reason or "")

    again, problem = ask(desk, no)
    assert again == 409 and "待中心审核" in problem["detail"]
    pending = desk.client.get(f"{API}/returns", headers=desk.headers["operator"]).json()
    assert [(p["ticket_no"], p["reason_code"], p["department_code"]) for p in pending] == [
        (no, "not_our_duty", "urban")
    ]
    # The public sees no 退单 back-and-forth.
    with desk.sessions() as session:
        row = session.execute(select(Ticket).where(Ticket.ticket_no == no)).scalar_one()
        public = public_ticket(session, row)
    assert [step.kind for step in public.timeline] == ["opened"]


def test_only_the_centre_decides_a_return(desk: Desk) -> None:
    no = open_ticket(desk)
    ask(desk, no)
    unit = desk.client.post(
        f"{API}/tickets/{no}/return/decision",
        headers=desk.headers["urban"],
        json={"approve": True, "reason": "我们自己同意"},
    )
    assert unit.status_code == 403
    assert desk.client.get(f"{API}/returns", headers=desk.headers["urban"]).status_code == 403


def test_a_refused_return_goes_back_to_the_unit_with_the_reason(desk: Desk) -> None:
    no = open_ticket(desk)
    ask(desk, no)
    status, ticket = decide(desk, no, approve=False)
    assert status == 200, ticket
    assert (ticket["state"], ticket["department_code"]) == ("routed", "urban")
    assert ticket["return_pending"] is None
    last = ticket["timeline"][-1]
    assert last["kind"] == "return_refused" and last["actor"] == "operator:话务员小李"
    assert "已移交市政管理" in last["reason"]
    assert [e.kind for e in published(desk, no)] == ["opened", "return_requested", "return_refused"]
    # It may ask again, with better reasons; there is nothing left to decide meanwhile.
    assert decide(desk, no, approve=True)[0] == 409
    assert ask(desk, no, reason_code="other_lead", reason="应由水务局主办，本单位可协办")[0] == 200


def test_an_approved_return_is_the_event_the_router_re_routes_on(desk: Desk) -> None:
    no = open_ticket(desk)
    ask(desk, no)
    status, ticket = decide(desk, no, approve=True, who="supervisor")
    assert status == 200, ticket
    assert ticket["state"] == "returned" and ticket["return_pending"] is None
    returned = published(desk, no)[-1]
    assert (returned.kind, returned.department_code, returned.return_code) == (
        "returned",
        "urban",
        "not_our_duty",
    )
    assert returned.actor == "supervisor:督办科老王"
    assert "物业负责" in (returned.reason or "") and "已移交市政管理" in (returned.reason or "")
    assert desk.client.get(f"{API}/returns", headers=desk.headers["operator"]).json() == []


def test_a_ticket_resolved_while_its_return_waits_cannot_be_returned(desk: Desk) -> None:
    no = open_ticket(desk)
    urban = desk.headers["urban"]
    ask(desk, no)
    assert desk.client.post(f"{API}/tickets/{no}/accept", headers=urban).is_success
    done = desk.client.post(f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "已修复"})
    assert done.status_code == 200
    status, problem = decide(desk, no, approve=True)
    assert status == 409 and "不能退单" in problem["detail"]
    assert decide(desk, no, approve=False)[0] == 200  # the centre clears it by refusing


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "不是我们的"},
        {"reason_code": "whatever", "reason": "不是我们的"},
        {"reason_code": "not_our_duty", "reason": "否"},
        {"reason_code": "not_our_duty" * 10, "reason": "不是我们的"},
    ],
)
def test_a_return_needs_a_code_of_the_taxonomy_and_words(desk: Desk, body: dict) -> None:
    no = open_ticket(desk)
    status, problem = ask(desk, no, **body)
    assert status == 422, problem
    assert [e.kind for e in published(desk, no)] == ["opened"]
