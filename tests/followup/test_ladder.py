"""The 督办 ladder (sla.yaml `ladder:`): its configuration, its steps in working time across
the 2026 National Day week, and each step firing once on a store (no broker).

2026: 1-7 Oct are holidays; Sun 27 Sep and Sat 10 Oct are make-up workdays (调休). Working
hours are 09:00-12:00 and 13:30-18:00, Beijing time (7.5 hours a working day).
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from pydantic import ValidationError
from sqlalchemy import select

from feedbackloop.events import Channel, TicketEvent, TicketEventKind, decode, new_event
from services.followup import ladder
from services.followup.calendar import BEIJING, WorkingCalendar
from services.followup.models import Clock, OutboxMessage
from services.followup.notify import NotificationRecord, Notifier, StaffWebhook
from services.followup.sla import DEFAULT_POLICIES, Ladder, LadderStep, SlaBook, load_sla_book
from tests import factories
from tests.followup.conftest import Desk
from tests.followup.test_web import sign_in

API = "/api/v1/workbench"


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BEIJING)  # type: ignore[misc]


def step(**fields: Any) -> LadderStep:
    return LadderStep.model_validate({"name": "s", "label": "提醒", "notify": ["unit"], **fields})


def book_with(steps: list[dict[str, Any]], recipients: dict[str, str] | None = None) -> SlaBook:
    raw = {
        "working_hours": [["09:00", "12:00"], ["13:30", "18:00"]],
        "policies": [
            {
                "name": "general",
                "label": "一般",
                "response": {"working_hours": 4},
                "resolution": {"working_days": 7},
            }
        ],
        "ladder": {"recipients": recipients or {"supervisor": "督办科"}, "steps": steps},
    }
    return SlaBook.model_validate(raw)


def test_the_default_ladder_reminds_urges_and_reprimands() -> None:
    book = load_sla_book(DEFAULT_POLICIES)
    assert book.ladder is not None
    steps = [(s.name, s.label, s.direction, s.notify) for s in book.ladder.steps]
    assert steps == [
        ("remind", "提醒", -1, ["unit"]),
        ("urge", "催办", 0, ["unit", "supervisor"]),
        ("reprimand", "通报", 1, ["unit", "supervisor", "leadership"]),
    ]
    assert book.ladder.recipient_label("unit", "市水务局") == "市水务局"
    assert book.ladder.recipient_label("leadership", "市水务局") == "12345市民服务热线中心领导"


def test_a_policy_file_without_a_ladder_keeps_only_the_warning_and_the_breach() -> None:
    from tests.integration.conftest import HERE

    assert load_sla_book(HERE / "sla-seconds.yaml").ladder is None


@pytest.mark.parametrize(
    ("steps", "recipients", "message"),
    [
        ([{"name": "a", "label": "提醒", "notify": ["unit"]}], None, "exactly one of before"),
        (
            [
                {
                    "name": "a",
                    "label": "提醒",
                    "at": "deadline",
                    "after": {"working_days": 1},
                    "notify": ["unit"],
                }
            ],
            None,
            "exactly one of before",
        ),
        ([{"name": "a", "label": "提醒", "at": "later", "notify": ["unit"]}], None, "deadline"),
        (
            [{"name": "a", "label": "提醒", "at": "deadline", "notify": ["mayor"]}],
            None,
            "notifies mayor, not among the recipients (unit, supervisor)",
        ),
        (
            [
                {"name": "a", "label": "提醒", "at": "deadline", "notify": ["unit"]},
                {"name": "a", "label": "通报", "after": {"working_days": 1}, "notify": ["unit"]},
            ],
            None,
            "step names must be unique: a",
        ),
        (
            [
                {"name": "late", "label": "通报", "after": {"working_days": 1}, "notify": ["unit"]},
                {
                    "name": "early",
                    "label": "提醒",
                    "before": {"working_hours": 4},
                    "notify": ["unit"],
                },
            ],
            None,
            "in the order they fire: 'early' comes no later than 'late'",
        ),
        (
            [
                {"name": "one", "label": "通报", "after": {"working_days": 1}, "notify": ["unit"]},
                {"name": "two", "label": "通报", "after": {"working_hours": 6}, "notify": ["unit"]},
            ],
            None,
            "in the order they fire: 'two' comes no later than 'one'",
        ),
        (
            [{"name": "Remind", "label": "提醒", "at": "deadline", "notify": ["unit"]}],
            None,
            "should match pattern",
        ),
        (
            [{"name": "a" * 12, "label": "提醒", "at": "deadline", "notify": ["unit"]}],
            None,
            "should match pattern",
        ),
        (
            [{"name": "a", "label": "提醒", "before": {"working_hours": 0}, "notify": ["unit"]}],
            None,
            "greater than 0",
        ),
        ([{"name": "a", "label": "提醒", "at": "deadline", "notify": []}], None, "at least 1"),
        (
            [{"name": "a", "label": "提醒", "at": "deadline", "notify": ["unit"]}],
            {"unit": "某单位"},
            "'unit' is built in",
        ),
        ([], None, "at least 1"),
    ],
)
def test_a_bad_ladder_is_refused_with_the_reason(
    steps: list[dict[str, Any]], recipients: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(ValidationError, match="ladder") as refused:
        book_with(steps, recipients)
    assert message in str(refused.value)


def test_steps_fall_in_working_time_around_national_day_and_the_make_up_days() -> None:
    calendar = WorkingCalendar()
    before4 = step(before={"working_hours": 4})
    at = step(at="deadline")
    after2 = step(after={"working_days": 2})
    before1d = step(before={"working_days": 1})
    wall = step(after={"wall_hours": 3})

    due = bj(2026, 10, 15, 18, 0)  # a Thursday
    assert ladder.step_at(calendar, before4, due) == bj(2026, 10, 15, 14, 0)
    assert ladder.step_at(calendar, at, due) == due
    assert ladder.step_at(calendar, after2, due) == bj(2026, 10, 19, 18, 0)  # over the weekend
    assert ladder.step_at(calendar, wall, due) == bj(2026, 10, 15, 21, 0)

    # Back over the holiday week: 1 h on 8 Oct, then 3 h of 30 Sep's afternoon.
    assert ladder.step_at(calendar, before4, bj(2026, 10, 8, 10, 0)) == bj(2026, 9, 30, 15, 0)
    # Forward over it: 2 working days after 30 Sep are 8 and 9 October.
    assert ladder.step_at(calendar, after2, bj(2026, 9, 30, 18, 0)) == bj(2026, 10, 9, 18, 0)
    # One working day before Monday 12 Oct 12:00: 3 h that morning, then 4.5 h of Saturday
    # 10 Oct, a make-up workday.
    monday_noon = bj(2026, 10, 12, 12, 0)
    assert ladder.step_at(calendar, before1d, monday_noon) == bj(2026, 10, 10, 13, 30)
    # A deadline outside working time: the reminder counts back from the last period.
    assert ladder.step_at(calendar, before4, bj(2026, 10, 3, 1, 0)) == bj(2026, 9, 30, 14, 0)


def test_subtract_undoes_add_in_working_time() -> None:
    calendar = WorkingCalendar()
    start = bj(2026, 9, 29, 10, 17)
    for hours in (0.5, 3, 4, 7.5, 20, 59):
        end = calendar.add(start, timedelta(hours=hours))
        assert calendar.subtract(end, timedelta(hours=hours)) == start
    assert calendar.working_day == timedelta(hours=7.5)


def facts(desk: Desk, ticket_id: str) -> list[TicketEvent]:
    with desk.sessions() as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.key == ticket_id).order_by(OutboxMessage.id)
        ).scalars()
        return [decode(row.payload, expect=TicketEvent).data for row in rows]


def steps_of(desk: Desk, ticket_id: str) -> list[str | None]:
    return [e.step for e in facts(desk, ticket_id) if e.kind is TicketEventKind.SUPERVISED]


def step_clocks(desk: Desk, ticket_id: str) -> dict[str, Clock]:
    with desk.sessions() as session:
        stmt = select(Clock).where(Clock.ticket_id == ticket_id, Clock.kind.startswith("step:"))
        return {c.kind: c for c in session.execute(stmt).scalars() if c.stopped_at is None}


def test_each_step_fires_once_is_marked_on_the_workbench_and_stops_at_the_resolve(
    desk: Desk,
) -> None:
    urban = desk.headers["urban"]
    with time_machine.travel(bj(2026, 9, 30, 10, 0), tick=False) as traveller:
        item = factories.received("小区门口路灯坏了一个月", received_at=bj(2026, 9, 30, 10, 0))
        desk.route(factories.routed(item))
        no, tid = item.data.ticket_no, item.data.ticket_id
        due = {kind: c.due_at for kind, c in step_clocks(desk, tid).items()}
        assert due == {
            "step:remind": bj(2026, 10, 15, 14, 0),
            "step:urge": bj(2026, 10, 15, 18, 0),
            "step:reprimand": bj(2026, 10, 19, 18, 0),
        }
        traveller.move_to(bj(2026, 10, 15, 14, 1))
        desk.fire_clocks()
        assert steps_of(desk, tid) == ["remind"]
        assert desk.fire_clocks() == 0  # once
        traveller.move_to(bj(2026, 10, 15, 18, 1))
        desk.fire_clocks()
        assert steps_of(desk, tid) == ["remind", "urge"]
        urged = next(e for e in facts(desk, tid) if e.step == "urge")
        assert urged.reason == (
            "催办：办结时限（10月15日 18:00）已到，尚未办结，"
            "已通知市城市管理局、12345市民服务热线督办科"
        )
        assert (urged.actor, urged.department_code, urged.clock) == ("system", "urban", None)

        # The unit's queue shows the last step reached; the ticket page lists them all.
        sign_in(desk.client, urban["Authorization"].removeprefix("Bearer "))
        queue = desk.client.get("/workbench").text
        assert f'data-ticket="{no}"' in queue
        assert 'data-step="urge">督办：催办</span>' in queue
        page = desk.client.get(f"/workbench/tickets/{no}").text
        assert (
            '<li data-step="remind"><span class="sla sla-due_soon ladder-mark">提醒</span>' in page
        )
        assert '<li data-step="urge"><span class="sla sla-overdue ladder-mark">催办</span>' in page
        assert "已通知市城市管理局、12345市民服务热线督办科" in page

        assert desk.client.post(f"{API}/tickets/{no}/accept", headers=urban).is_success
        resolved = desk.client.post(
            f"{API}/tickets/{no}/resolve", headers=urban, json={"text": "路灯已更换，恢复照明"}
        )
        assert resolved.is_success, resolved.text
        traveller.move_to(bj(2026, 10, 20, 9, 0))
        desk.fire_clocks()
        assert steps_of(desk, tid) == ["remind", "urge"]  # no 通报 after the resolve


def test_a_pause_moves_the_steps_with_the_deadline_and_an_extension_starts_them_again(
    desk: Desk,
) -> None:
    operator = desk.headers["operator"]
    with time_machine.travel(bj(2026, 10, 12, 10, 0), tick=False) as traveller:
        item = factories.received("路面塌陷", received_at=bj(2026, 9, 30, 10, 0))
        desk.route(factories.routed(item))
        no, tid = item.data.ticket_no, item.data.ticket_id
        accept = desk.client.post(f"{API}/tickets/{no}/accept", headers=desk.headers["urban"])
        assert accept.is_success, accept.text
        paused = desk.client.post(
            f"{API}/tickets/{no}/pause", headers=operator, json={"reason": "等待市民补充位置"}
        )
        assert paused.is_success, paused.text
        assert all(c.next_at is None for c in step_clocks(desk, tid).values())
        traveller.move_to(bj(2026, 10, 19, 10, 0))
        assert desk.fire_clocks() == 0  # paused: no step
        resumed = desk.client.post(f"{API}/tickets/{no}/resume", headers=operator)
        assert resumed.is_success, resumed.text
        # 29 working hours were left on 12 Oct 10:00; from 19 Oct 10:00 they end 22 Oct 18:00.
        due = {kind: c.due_at for kind, c in step_clocks(desk, tid).items()}
        assert due == {
            "step:remind": bj(2026, 10, 22, 14, 0),
            "step:urge": bj(2026, 10, 22, 18, 0),
            "step:reprimand": bj(2026, 10, 26, 18, 0),
        }
        traveller.move_to(bj(2026, 10, 22, 18, 1))
        desk.fire_clocks()
        assert steps_of(desk, tid) == ["remind", "urge"]

        asked = desk.client.post(
            f"{API}/tickets/{no}/extension",
            headers=desk.headers["urban"],
            json={"working_days": 3, "reason": "需协调供电公司更换线路"},
        )
        assert asked.is_success, asked.text
        decided = desk.client.post(
            f"{API}/tickets/{no}/extension/decision", headers=operator, json={"approve": True}
        )
        assert decided.is_success, decided.text
        # 3 working days on from 22 Oct 18:00: 27 Oct 18:00; the ladder starts again.
        traveller.move_to(bj(2026, 10, 27, 18, 1))
        desk.fire_clocks()
        assert steps_of(desk, tid) == ["remind", "urge", "remind", "urge"]


def supervised(step_name: str, department: str = "urban") -> Any:
    data = TicketEvent(
        ticket_id="t-1",
        ticket_no="2610159800001",
        kind=TicketEventKind.SUPERVISED,
        state_to="accepted",
        department_code=department,
        department_name="市城市管理局",
        priority="normal",
        actor="system",
        reason="通报：已超过办结时限（10月15日 18:00）2个工作日，尚未办结，已通知市城市管理局",
        received_at=datetime(2026, 9, 30, 2, tzinfo=UTC),
        occurred_at=datetime(2026, 10, 19, 10, 1, tzinfo=UTC),
        channel="web",
        step=step_name,
    )
    return new_event(data=data, source="/followup", subject="t-1")


def test_a_step_notifies_its_recipients_at_their_webhooks_once(desk: Desk) -> None:
    book = load_sla_book(DEFAULT_POLICIES)
    webhooks = {
        "unit": "http://robot.test/units",
        "unit:urban": "http://robot.test/urban",
        "supervisor": "http://robot.test/supervisor",
    }  # no webhook for the leadership: the workbench only
    event = supervised("reprimand")
    notices = ladder.staff_notices(
        book=book, webhooks=webhooks, base_url="https://12345.test/", event=event
    )
    assert [n.staff_url for n in notices] == [
        "http://robot.test/urban",
        "http://robot.test/supervisor",
    ]
    assert notices[0].text == (
        "【12345通报】工单2610159800001（市城市管理局）已超过办结时限（10月15日 18:00）2个工作日，"
        "尚未办结，已通知市城市管理局。详情：https://12345.test/workbench/tickets/2610159800001"
    )
    assert len({n.event_id for n in notices}) == 2 and notices[0].channel is Channel.WEB
    other = supervised("reprimand", department="water")
    assert (
        ladder.staff_notices(book=book, webhooks=webhooks, base_url="", event=other)[0].staff_url
        == "http://robot.test/units"
    )
    assert ladder.staff_notices(book=book, webhooks={}, base_url="", event=event) == []

    posted: list[tuple[str, dict[str, Any]]] = []

    def robot(request: httpx.Request) -> httpx.Response:
        posted.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    with httpx.Client(transport=httpx.MockTransport(robot)) as http:
        notifier = Notifier(desk.sessions, None, None, lambda n, r: None, staff=StaffWebhook(http))
        for _ in range(2):  # the same event again (a batch read twice): sent once
            assert [notifier.deliver(n) for n in notices] == ["sent", "sent"]
    assert posted == [
        ("http://robot.test/urban", {"msgtype": "text", "text": {"content": notices[0].text}}),
        ("http://robot.test/supervisor", {"msgtype": "text", "text": {"content": notices[1].text}}),
    ]
    with desk.sessions() as session:
        channels = session.execute(select(NotificationRecord.channel)).scalars().all()
    assert channels == ["staff", "staff"]


def test_a_robot_that_refuses_a_notice_fails_it_for_good(desk: Desk) -> None:
    notice = ladder.staff_notices(
        book=load_sla_book(DEFAULT_POLICIES),
        webhooks={"supervisor": "http://robot.test/supervisor"},
        base_url="",
        event=supervised("urge"),
    )
    failed: list[str] = []
    with httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"errcode": 93000}))
    ) as http:
        notifier = Notifier(
            desk.sessions, None, None, lambda n, r: failed.append(r), staff=StaffWebhook(http)
        )
        assert [notifier.deliver(n) for n in notice] == ["failed"]
    assert failed == ["staff webhook: errcode 93000"]


def test_the_ladder_model_finds_steps_by_name() -> None:
    made = Ladder.model_validate(
        {"steps": [{"name": "urge", "label": "催办", "at": "deadline", "notify": ["unit"]}]}
    )
    assert made.step("urge") is not None and made.step("gone") is None
