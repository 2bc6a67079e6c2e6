"""Survey v2: the contacted question, and a unit's 不合理诉求 mark with the centre's decision."""

import itertools
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from feedbackloop.events import Channel, TicketEvent, decode
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.models import OutboxMessage
from tests import factories
from tests.followup.conftest import Desk
from tests.followup.test_surveys import link_path, ticket

API = "/api/v1/workbench"
_numbers = itertools.count(1)


def published(desk: Desk, no: str) -> list[TicketEvent]:
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        events = [decode(row.payload).data for row in rows if row.topic == TICKET_EVENTS]
    return [e for e in events if isinstance(e, TicketEvent) and e.ticket_no == no]


def claimed_ticket(desk: Desk, traveller: time_machine.Traveller) -> str:
    """Accepted and resolved with the 不合理诉求 box ticked; the survey invited a day later."""
    no = f"26112321{next(_numbers):05d}"
    item = factories.received("要求政府赔偿五十万", received_at=datetime.now(UTC), ticket_no=no)
    desk.route(factories.routed(item))
    urban = desk.headers["urban"]
    assert desk.client.post(f"{API}/tickets/{no}/accept", headers=urban).is_success
    done = desk.client.post(
        f"{API}/tickets/{no}/resolve",
        headers=urban,
        json={"text": "诉求无政策依据，已当面解释", "unreasonable": True},
    )
    assert done.status_code == 200, done.text
    traveller.shift(timedelta(hours=24, minutes=1))
    desk.fire_clocks()
    return no


def decide(desk: Desk, no: str, who: str, accept: bool) -> tuple[int, dict]:
    reply = desk.client.post(
        f"{API}/tickets/{no}/unreasonable/decision",
        headers=desk.headers[who],
        json={"accept": accept, "reason": "经核实，诉求缺乏政策依据"},
    )
    return reply.status_code, reply.json()


def test_the_unit_marks_and_only_the_centre_decides(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = claimed_ticket(desk, traveller)
        (resolved,) = [e for e in published(desk, no) if e.kind == "resolved"]
        assert resolved.unreasonable == "claimed"
        pending = desk.client.get(f"{API}/unreasonable", headers=desk.headers["operator"]).json()
        assert [(p["ticket_no"], p["reason"]) for p in pending] == [
            (no, "诉求无政策依据，已当面解释")
        ]
        # The unit cannot settle its own claim, nor see the centre's list.
        assert decide(desk, no, "urban", True)[0] == 403
        assert (
            desk.client.get(f"{API}/unreasonable", headers=desk.headers["urban"]).status_code == 403
        )

        status, body = decide(desk, no, "operator", True)

        assert status == 200, body
        assert body["timeline"][-1]["kind"] == "unreasonable_reviewed"
        (reviewed,) = [e for e in published(desk, no) if e.kind == "unreasonable_reviewed"]
        assert (reviewed.unreasonable, reviewed.actor) == ("accepted", "operator:话务员小李")
        assert "不计入" in (reviewed.reason or "")
        # Decided once: a second decision is a 409 with the reason in Chinese.
        status, body = decide(desk, no, "supervisor", False)
        assert status == 409 and "没有待审核" in body["detail"]
        assert desk.client.get(f"{API}/unreasonable", headers=desk.headers["operator"]).json() == []


def test_an_accepted_claim_closes_on_an_unhappy_answer_instead_of_reopening(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = claimed_ticket(desk, traveller)
        assert decide(desk, no, "operator", True)[0] == 200
        path = link_path(desk, no)
        page = desk.client.post(
            path, data={"contacted": "yes", "solved": "not", "satisfaction": "dissatisfied"}
        )
        assert page.status_code == 200 and "重新办理" not in page.text
        assert ticket(desk, no).state == "closed"
        (surveyed,) = [e for e in published(desk, no) if e.kind == "surveyed"]
        assert (surveyed.contacted, surveyed.solved) == (True, "not")


def test_a_refused_claim_reopens_as_any_unhappy_answer_does(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = claimed_ticket(desk, traveller)
        assert decide(desk, no, "supervisor", False)[0] == 200
        page = desk.client.post(
            link_path(desk, no),
            data={"contacted": "no", "solved": "not", "satisfaction": "dissatisfied"},
        )
        assert page.status_code == 200 and "重新办理" in page.text
        assert ticket(desk, no).state == "reopened"
        (surveyed,) = [e for e in published(desk, no) if e.kind == "surveyed"]
        assert surveyed.contacted is False
        assert "单位未联系" in (surveyed.reason or "")


def test_the_page_asks_the_three_questions_and_wants_all_three(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = claimed_ticket(desk, traveller)
        path = link_path(desk, no)
        page = desk.client.get(path).text
        assert "承办单位是否与您联系过？" in page and 'name="contacted" value="yes"' in page
        for missing in ("contacted", "solved", "satisfaction"):
            answers = {"contacted": "yes", "solved": "solved", "satisfaction": "satisfied"}
            del answers[missing]
            reply = desk.client.post(path, data=answers)
            assert reply.status_code == 422 and "请回答全部三个问题" in reply.text
        bad = desk.client.post(
            path, data={"contacted": "maybe", "solved": "solved", "satisfaction": "satisfied"}
        )
        assert bad.status_code == 422
        assert ticket(desk, no).state == "resolved"


def test_a_phone_callback_records_the_contacted_answer(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = f"26112322{next(_numbers):05d}"
        item = factories.received(
            "路灯不亮", received_at=datetime.now(UTC), ticket_no=no, channel=Channel.HOTLINE
        )
        desk.route(factories.routed(item))
        urban = desk.headers["urban"]
        assert desk.client.post(f"{API}/tickets/{no}/accept", headers=urban).is_success
        done = desk.client.post(f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "已修"})
        assert done.is_success
        traveller.shift(timedelta(hours=24, minutes=1))
        desk.fire_clocks()
        answer = {"contacted": False, "solved": "solved", "satisfaction": "basically"}
        reply = desk.client.post(
            f"{API}/tickets/{no}/survey", headers=desk.headers["operator"], json=answer
        )
        assert reply.status_code == 200, reply.text
        (surveyed,) = [e for e in published(desk, no) if e.kind == "surveyed"]
        assert surveyed.contacted is False


def test_the_unit_ticks_the_box_on_its_page_and_the_centre_decides_on_its_console(
    desk: Desk,
) -> None:
    from fastapi.testclient import TestClient

    from tests.followup.test_web import open_ticket, sign_in, token_of

    no = open_ticket(desk)
    csrf = sign_in(desk.client, token_of(desk, "water"))
    desk.client.post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf})
    page = desk.client.get(f"/workbench/tickets/{no}").text
    assert 'name="unreasonable" value="yes"' in page and "申请认定为不合理诉求" in page
    done = desk.client.post(
        f"/workbench/tickets/{no}/resolve",
        data={"csrf": csrf, "text": "要求无政策依据，已解释", "unreasonable": "yes"},
    )
    assert done.status_code == 200, done.text
    (resolved,) = [e for e in published(desk, no) if e.kind == "resolved"]
    assert resolved.unreasonable == "claimed"

    operator = TestClient(desk.client.app)
    operator_csrf = sign_in(operator, token_of(desk, "operator"))
    listing = operator.get("/workbench/extensions")
    assert f'data-unreasonable="{no}"' in listing.text and "要求无政策依据，已解释" in listing.text
    no_reason = operator.post(
        f"/workbench/tickets/{no}/unreasonable/decision",
        data={"csrf": operator_csrf, "accept": "yes", "reason": "x"},
    )
    assert no_reason.status_code == 422 and "请填写 2 到 500 字的审核意见" in no_reason.text
    decided = operator.post(
        f"/workbench/tickets/{no}/unreasonable/decision",
        data={"csrf": operator_csrf, "accept": "yes", "reason": "诉求超出政策范围"},
    )
    assert f"已认定工单 {no} 为不合理诉求" in decided.text
    assert f'data-unreasonable="{no}"' not in decided.text
    again = operator.post(
        f"/workbench/tickets/{no}/unreasonable/decision",
        data={"csrf": operator_csrf, "accept": "no", "reason": "再审一次"},
    )
    assert again.status_code == 409 and "没有待审核的不合理诉求" in again.text
