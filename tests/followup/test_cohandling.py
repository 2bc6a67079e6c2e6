"""主办/协办: a lead unit and co-handling units on one ticket. The centre names co-units at
triage or later; each co-unit signs and sends its part on its own queue; the lead resolves
once every part is in; late co-units are told apart from the lead."""

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedbackloop.events import CoUnit, Envelope, RoutingMethod, decode
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.models import Clock, OutboxMessage
from tests import factories
from tests.followup.conftest import Desk

API = "/api/v1/workbench"
_numbers = itertools.count(1)
NOISE = "工地每天夜里施工到凌晨两点，噪音扰民，渣土车还把路面弄得很脏。"
WATER = CoUnit(department_code="water", department_name="市水务局")


def file(desk: Desk, *, co: list[CoUnit] | None = None) -> tuple[str, Envelope]:
    number = f"26112360{next(_numbers):05d}"
    item = factories.received(
        NOISE, received_at=datetime.now(UTC) - timedelta(hours=1), ticket_no=number
    )
    routed = factories.routed(
        item, department="urban", method=RoutingMethod.MANUAL, assigned_by="小李", co_handlers=co
    )
    desk.route(routed)
    return number, routed


def call(desk: Desk, no: str, action: str, body: dict | None, who: str, status: int = 200) -> dict:
    url = f"{API}/tickets/{no}/{action}"
    reply = desk.client.post(url, json=body, headers=desk.headers[who])
    assert reply.status_code == status, reply.text
    return dict(reply.json())


def co_events(desk: Desk) -> list[tuple[str, str | None, str | None]]:
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        events = [decode(r.payload).data for r in rows if r.topic == TICKET_EVENTS]
    return [
        (e.kind.value, e.co_department_code, e.department_code)
        for e in events
        if e.kind.value.startswith("cohandler")
    ]


def test_a_ticket_assigned_with_a_co_unit_is_worked_by_both_and_resolved_by_the_lead(
    desk: Desk,
) -> None:
    no, routed = file(desk, co=[WATER])
    desk.route(routed)  # a redelivered decision names nobody twice
    queue = desk.client.get(f"{API}/cohandling", headers=desk.headers["water"]).json()
    assert [t["ticket_no"] for t in queue] == [no]
    seen = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert seen["department_code"] == "urban"
    assert [(u["department_code"], u["state"]) for u in seen["co_handlers"]] == [
        ("water", "assigned")
    ]
    # The co-unit works its part only: the lead's actions answer as for someone else's ticket.
    call(desk, no, "accept", None, "water", 404)
    call(desk, no, "resolve", {"text": "已处理"}, "water", 404)
    call(desk, no, "accept", None, "urban")
    refused = call(desk, no, "resolve", {"text": "已责令工地夜间停工"}, "urban", 409)
    assert refused["detail"] == "协办单位尚未提交协办意见：市水务局"
    call(desk, no, "cohandling/accept", None, "water")
    call(desk, no, "cohandling/accept", None, "water", 409)
    part = "已派员检查工地排水，渣土车冲洗设施已整改。"
    detail = call(desk, no, "cohandling/part", {"text": part}, "water")
    assert detail["co_handlers"][0]["state"] == "submitted"
    assert detail["co_handlers"][0]["part"] == part
    assert desk.client.get(f"{API}/cohandling", headers=desk.headers["water"]).json() == []
    done = call(desk, no, "resolve", {"text": "已责令工地夜间停工，路面已清扫。"}, "urban")
    assert done["state"] == "resolved"
    call(desk, no, "cohandling/part", {"text": "补充"}, "water", 409)
    assert co_events(desk) == [
        ("cohandler_assigned", "water", "urban"),
        ("cohandler_accepted", "water", "urban"),
        ("cohandler_submitted", "water", "urban"),
    ]


def test_the_centre_adds_and_withdraws_a_co_unit_and_refuses_what_cannot_be(desk: Desk) -> None:
    no, _ = file(desk)
    units = desk.client.get(f"{API}/cohandling/units", headers=desk.headers["operator"]).json()
    assert units == {"urban": "市城市管理局", "water": "市水务局"}
    assert (
        desk.client.get(f"{API}/cohandling/units", headers=desk.headers["urban"]).status_code == 403
    )
    call(desk, no, "cohandlers", {"department_codes": ["water"]}, "urban", 403)
    unknown = call(desk, no, "cohandlers", {"department_codes": ["nobody"]}, "operator", 422)
    assert unknown["detail"] == "没有这个承办单位：nobody"
    lead = call(desk, no, "cohandlers", {"department_codes": ["urban"]}, "operator", 422)
    assert lead["detail"] == "市城市管理局已是主办单位，不能同时协办"
    for hostile in ([], ["water"] * 6, ["<script>"], [""], "water", None):
        call(desk, no, "cohandlers", {"department_codes": hostile}, "operator", 422)
    detail = call(desk, no, "cohandlers", {"department_codes": ["water", "water"]}, "operator")
    assert [u["department_code"] for u in detail["co_handlers"]] == ["water"]
    call(desk, no, "cohandlers/water/withdraw", {"reason": "x"}, "operator", 422)
    call(desk, no, "cohandlers/water/withdraw", {"reason": "误派协办"}, "urban", 403)
    call(desk, no, "cohandlers/water/withdraw", {"reason": "误派协办"}, "operator")
    call(desk, no, "cohandlers/water/withdraw", {"reason": "误派协办"}, "operator", 404)
    gone = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"])
    assert gone.status_code == 404
    call(desk, no, "accept", None, "urban")
    call(desk, no, "resolve", {"text": "已责令工地夜间停工"}, "urban")
    assert [k for k, _, _ in co_events(desk)] == ["cohandler_assigned", "cohandler_withdrawn"]


def test_a_co_unit_that_lets_its_limits_run_out_is_late_itself(desk: Desk) -> None:
    no, _ = file(desk, co=[WATER])
    with desk.sessions.begin() as session:
        for clock in session.execute(
            select(Clock).where(Clock.kind.in_(("co_response", "co_part")))
        ).scalars():
            clock.due_at = clock.next_at = datetime.now(UTC) - timedelta(minutes=1)
    desk.fire_clocks()
    desk.fire_clocks()
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        late = [
            (e.kind.value, e.clock, e.co_department_code)
            for e in (decode(r.payload).data for r in rows if r.topic == TICKET_EVENTS)
            if e.kind.value == "cohandler_overdue"
        ]
    assert sorted(late) == [
        ("cohandler_overdue", "part", "water"),
        ("cohandler_overdue", "response", "water"),
    ]
    # Late, but still the lead waits for the part; it can still be sent.
    call(desk, no, "cohandling/part", {"text": "排水已整改"}, "water")


def test_a_ticket_re_routed_to_its_co_unit_makes_it_the_lead_only(desk: Desk) -> None:
    no, routed = file(desk, co=[WATER])
    again = factories.routed(
        factories.received(NOISE, ticket_no=no, ticket_id=routed.data.feedback.ticket_id),
        department="water",
        method=RoutingMethod.MANUAL,
        assigned_by="小李",
        minute=5,
    )
    desk.route(again)
    detail = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert detail["department_code"] == "water"
    assert detail["co_handlers"] == []
    call(desk, no, "accept", None, "water")
    call(desk, no, "resolve", {"text": "已处理"}, "water")


def test_other_units_cannot_see_or_work_a_co_handled_ticket(desk: Desk) -> None:
    no, _ = file(desk)
    call(desk, no, "cohandling/accept", None, "water", 404)
    call(desk, no, "cohandling/part", {"text": "抢先提交"}, "water", 404)
    assert desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).status_code == 404
    call(desk, no, "cohandling/accept", None, "operator", 403)
    assert desk.client.get(f"{API}/cohandling", headers=desk.headers["operator"]).status_code == 403
