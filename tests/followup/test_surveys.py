"""Callback surveys (回访): the signed page, reopening, escalation, no response, hotline."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from feedbackloop.events import Channel, TicketEvent, decode
from services.followup import service, surveys
from services.followup.models import OutboxMessage, Ticket
from services.followup.notifications import create_notifier, notification_for
from tests import factories
from tests.followup.conftest import Desk

API = "/api/v1/workbench"
_numbers = itertools.count(1)


def resolved_ticket(
    desk: Desk, traveller: time_machine.Traveller, channel: Channel = Channel.WEB
) -> str:
    """A ticket accepted and resolved now, with its survey invitation sent (a day later)."""
    number = f"26112320{next(_numbers):05d}"
    item = factories.received(
        "楼道灯不亮", received_at=datetime.now(UTC), ticket_no=number, channel=channel
    )
    desk.route(factories.routed(item))
    resolve(desk, number)
    traveller.shift(timedelta(hours=24, minutes=1))
    desk.fire_clocks()
    return number


def resolve(desk: Desk, no: str) -> None:
    urban = desk.headers["urban"]
    assert desk.client.post(f"{API}/tickets/{no}/accept", headers=urban).is_success
    done = desk.client.post(f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "已修复"})
    assert done.status_code == 200, done.text


def link_path(desk: Desk, no: str) -> str:
    with desk.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=no)
        assert ticket is not None
        survey = surveys.get_open_survey(session=session, ticket=ticket)
        assert survey is not None, "no survey invitation"
        link = surveys.survey_link(
            base_url="http://x", secret=desk.followup.settings.survey_secret, survey=survey
        )
    return link.removeprefix("http://x")


def ticket(desk: Desk, no: str) -> Ticket:
    with desk.sessions() as session:
        found = service.get_ticket(session=session, ticket_no=no)
        assert found is not None
        return found


def answer(desk: Desk, path: str, solved: str, satisfaction: str) -> tuple[int, str]:
    response = desk.client.post(
        path, data={"contacted": "yes", "solved": solved, "satisfaction": satisfaction}
    )
    return response.status_code, response.text


def test_dissatisfaction_reopens_and_satisfaction_closes(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = resolved_ticket(desk, traveller)
        path = link_path(desk, no)
        page = desk.client.get(path)
        assert page.status_code == 200 and "请您评价本次办理" in page.text and "已修复" in page.text
        assert answer(desk, path, "not", "dissatisfied")[0] == 200
        reopened = ticket(desk, no)
        assert (reopened.state, reopened.priority, reopened.reopen_count) == ("reopened", "high", 1)

        resolve(desk, no)
        traveller.shift(timedelta(hours=24, minutes=1))
        desk.fire_clocks()
        second = link_path(desk, no)
        assert second != path
        status, text = answer(desk, second, "solved", "satisfied")
        assert status == 200 and "感谢您的评价" in text
        assert ticket(desk, no).state == "closed"
        kinds = [
            e["kind"]
            for e in desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["urban"]).json()[
                "timeline"
            ]
        ]
        assert kinds == [
            "opened",
            "accepted",
            "resolved",
            "survey_invited",
            "surveyed",
            "reopened",
            "accepted",
            "resolved",
            "survey_invited",
            "surveyed",
            "closed",
        ]


def test_forged_reused_and_expired_links_are_refused(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = resolved_ticket(desk, traveller)
        path = link_path(desk, no)
        survey_id, expiry, signature = path.removeprefix("/s/").split(".")
        forged = [
            f"/s/{survey_id}.{expiry}.{signature[:-2]}xx",  # signature altered
            f"/s/{survey_id}.{int(expiry) + 86400}.{signature}",  # expiry stretched
            f"/s/{survey_id}",  # malformed
        ]
        for bad in forged:
            assert desk.client.get(bad).status_code == 404, bad
            assert answer(desk, bad, "solved", "satisfied")[0] == 404
        assert ticket(desk, no).state == "resolved"

        assert answer(desk, path, "solved", "satisfied")[0] == 200
        reused = desk.client.post(
            path, data={"contacted": "no", "solved": "not", "satisfaction": "dissatisfied"}
        )
        assert reused.status_code == 409 and "已经评价过" in reused.text
        assert ticket(desk, no).state == "closed"

        later = resolved_ticket(desk, traveller)
        late_path = link_path(desk, later)
        traveller.shift(timedelta(hours=73))
        expired = desk.client.get(late_path)
        assert expired.status_code == 410 and "已过期" in expired.text


def test_an_incomplete_answer_is_shown_again_with_the_error(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = resolved_ticket(desk, traveller)
        path = link_path(desk, no)
        response = desk.client.post(path, data={"solved": "solved"})
        assert response.status_code == 422 and "请回答全部三个问题" in response.text
        assert re.search(r'value="solved"[^>]*checked', response.text)
        assert ticket(desk, no).state == "resolved"


def test_no_answer_within_the_window_closes_as_no_response(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = resolved_ticket(desk, traveller)
        traveller.shift(timedelta(hours=72, minutes=1))
        desk.fire_clocks()
        closed = ticket(desk, no)
        assert closed.state == "closed"
        timeline = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["urban"]).json()
        assert [e["kind"] for e in timeline["timeline"]][-2:] == ["no_response", "closed"]


def test_after_two_reopens_dissatisfaction_goes_to_the_supervisor(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = resolved_ticket(desk, traveller)
        for _ in range(2):
            assert answer(desk, link_path(desk, no), "not", "dissatisfied")[0] == 200
            resolve(desk, no)
            traveller.shift(timedelta(hours=24, minutes=1))
            desk.fire_clocks()
        assert answer(desk, link_path(desk, no), "partly", "dissatisfied")[0] == 200
        escalated = ticket(desk, no)
        assert (escalated.state, escalated.reopen_count) == ("surveyed", 2)
        supervisor = desk.headers["supervisor"]
        closed = desk.client.post(
            f"{API}/tickets/{no}/close", headers=supervisor, json={"reason": "督办约谈后结案"}
        )
        assert closed.status_code == 200 and closed.json()["state"] == "closed"
        kinds = [e["kind"] for e in closed.json()["timeline"]]
        assert kinds[-3:] == ["surveyed", "escalated", "closed"]


def test_a_hotline_agent_records_the_callers_answer(desk: Desk) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        no = resolved_ticket(desk, traveller, Channel.HOTLINE)
        body = {
            "contacted": "yes",
            "solved": "partly",
            "satisfaction": "basically",
            "comment": "基本解决了",
        }
        refused = desk.client.post(
            f"{API}/tickets/{no}/survey", headers=desk.headers["urban"], json=body
        )
        assert refused.status_code == 403  # departments do not grade themselves
        recorded = desk.client.post(
            f"{API}/tickets/{no}/survey", headers=desk.headers["operator"], json=body
        )
        assert recorded.status_code == 200 and recorded.json()["state"] == "closed"
        again = desk.client.post(
            f"{API}/tickets/{no}/survey", headers=desk.headers["operator"], json=body
        )
        assert again.status_code == 409


def test_the_status_page_shows_progress_and_no_personal_data(desk: Desk) -> None:
    number = "2611239900001"
    item = factories.received(
        "我叫张三，电话138****5678，小区路灯坏了", received_at=datetime.now(UTC), ticket_no=number
    )
    desk.route(factories.routed(item))
    page = desk.client.get(f"/t/{number}")
    assert page.status_code == 200
    assert "已派单" in page.text and "市城市管理局" in page.text and number in page.text
    assert "张三" not in page.text and "5678" not in page.text and "路灯" not in page.text
    missing = desk.client.get("/t/0000000000000")
    assert missing.status_code == 404 and "没有找到工单" in missing.text


def test_hotline_callers_get_a_callback_task_for_the_survey(desk: Desk) -> None:

    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False) as traveller:
        number = "2611239900002"
        item = factories.received(
            "电话反映：楼道灯不亮",
            received_at=datetime.now(UTC),
            ticket_no=number,
            channel=Channel.HOTLINE,
            contact={"phone_masked": "138****5678", "callback_consent": True},
        )
        desk.route(factories.routed(item))
        resolve(desk, number)
        traveller.shift(timedelta(hours=24, minutes=1))
        desk.fire_clocks()
        settings = desk.followup.settings
        notifier = create_notifier(settings, desk.sessions)
        with desk.sessions() as session:
            rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
            events = [decode(r.payload, expect=TicketEvent) for r in rows]
        for event in events:
            with desk.sessions() as session:
                notification = notification_for(session=session, settings=settings, event=event)
            if notification is not None:
                notifier.deliver(notification)
        operator = desk.headers["operator"]
        calls = desk.client.get("/api/v1/workbench/callbacks", headers=operator).json()
        assert [(c["ticket_no"], c["purpose"]) for c in calls] == [
            (number, "resolved"),
            (number, "survey"),
        ]
        assert calls[0]["phone_masked"] == "138****5678" and "办结" in calls[0]["text"]
        done = f"/api/v1/workbench/callbacks/{calls[1]['id']}/done"
        assert desk.client.post(done, headers=operator, json={"outcome": "reached"}).is_success
        assert (
            desk.client.post(done, headers=operator, json={"outcome": "reached"}).status_code == 409
        )
        assert (
            desk.client.post(
                done, headers=desk.headers["urban"], json={"outcome": "reached"}
            ).status_code
            == 403
        )
        left = desk.client.get("/api/v1/workbench/callbacks", headers=operator).json()
        assert [c["purpose"] for c in left] == ["resolved"]
