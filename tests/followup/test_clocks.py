"""SLA clocks in travelled time, across the 2026 National Day week and its make-up workdays.

2026: 25 Sep (Mid-Autumn) and 1-7 Oct are holidays; Sun 20 Sep and Sat 10 Oct are make-up
workdays (调休). Working hours are 09:00-12:00 and 13:30-18:00, Beijing time.
"""

from datetime import date, datetime, timedelta

import time_machine
from sqlalchemy import select

from feedbackloop.events import Priority, TicketEvent, decode
from services.followup import service
from services.followup.calendar import BEIJING, WorkingCalendar
from services.followup.models import OutboxMessage
from services.followup.sla import load_sla_book
from tests import factories
from tests.followup.conftest import Desk


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BEIJING)  # type: ignore[misc]


def facts(desk: Desk, ticket_id: str) -> list[tuple[str, str | None]]:
    """(kind, clock) of every event recorded for a ticket, in order."""
    with desk.sessions() as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.key == ticket_id).order_by(OutboxMessage.id)
        ).scalars()
        events = [decode(row.payload, expect=TicketEvent).data for row in rows]
    return [(e.kind.value, e.clock) for e in events]


def due_of(desk: Desk, ticket_no: str) -> datetime:
    with desk.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=ticket_no)
        assert ticket is not None
        return ticket.due_at


def test_limits_count_working_days_across_national_day_with_warnings_extensions_and_pauses(
    desk: Desk,
) -> None:
    urban, operator = desk.headers["urban"], desk.headers["operator"]
    with time_machine.travel(bj(2026, 9, 30, 10, 0), tick=False) as traveller:
        item = factories.received("小区门口路灯坏了一个月", received_at=bj(2026, 9, 30, 10, 0))
        desk.route(factories.routed(item))
        no, tid = item.data.ticket_no, item.data.ticket_id
        # 7 working days: 8, 9, 10 (Sat, 调休), 12, 13, 14, 15 October; close of business.
        assert due_of(desk, no) == bj(2026, 10, 15, 18, 0)

        # The 4-working-hour response limit ran out on 30 Sep at 15:30; the holiday passes.
        traveller.move_to(bj(2026, 10, 5, 12, 0))
        assert desk.fire_clocks() == 2
        assert facts(desk, tid)[1:] == [
            ("warned", "response"),
            ("breached", "response"),
            ("escalated", "response"),
        ]
        assert desk.fire_clocks() == 0  # each moment fires once

        traveller.move_to(bj(2026, 10, 8, 9, 5))
        assert desk.client.post(f"/api/v1/workbench/tickets/{no}/accept", headers=urban).is_success

        # 75% of the 59 working hours from receipt to deadline: 14 Oct 09:15.
        traveller.move_to(bj(2026, 10, 14, 9, 14))
        assert desk.fire_clocks() == 0
        traveller.move_to(bj(2026, 10, 14, 9, 16))
        assert desk.fire_clocks() == 1
        assert facts(desk, tid)[-1] == ("warned", "resolution")

        # Three more working days, approved by an operator: 16, 19, 20 October.
        asked = desk.client.post(
            f"/api/v1/workbench/tickets/{no}/extension",
            headers=urban,
            json={"working_days": 3, "reason": "需协调供电公司更换线路"},
        )
        assert asked.status_code == 200, asked.text
        pending = desk.client.get("/api/v1/workbench/extensions", headers=operator).json()
        assert [p["ticket_no"] for p in pending] == [no]
        decided = desk.client.post(
            f"/api/v1/workbench/tickets/{no}/extension/decision",
            headers=operator,
            json={"approve": True},
        )
        assert decided.status_code == 200, decided.text
        assert due_of(desk, no) == bj(2026, 10, 20, 18, 0)
        assert desk.client.get("/api/v1/workbench/extensions", headers=operator).json() == []

        # Waiting on the citizen from 15 Oct 10:00 to 19 Oct 10:00: the 29 working hours
        # left run from the resume, to 22 Oct 18:00.
        traveller.move_to(bj(2026, 10, 15, 10, 0))
        paused = desk.client.post(
            f"/api/v1/workbench/tickets/{no}/pause",
            headers=urban,
            json={"reason": "等待市民补充位置"},
        )
        # A department's pause is a request; the clocks stop once the centre approves it.
        assert paused.status_code == 202, paused.text
        approved = desk.client.post(
            f"/api/v1/workbench/tickets/{no}/pause/decision",
            headers=operator,
            json={"approve": True},
        )
        assert approved.status_code == 200, approved.text
        traveller.move_to(bj(2026, 10, 19, 10, 0))
        assert desk.fire_clocks() == 0  # a paused clock does not warn or breach
        assert desk.client.post(f"/api/v1/workbench/tickets/{no}/resume", headers=urban).is_success
        assert due_of(desk, no) == bj(2026, 10, 22, 18, 0)

        traveller.move_to(bj(2026, 10, 23, 9, 0))
        desk.fire_clocks()
        assert desk.fire_clocks() == 0
        resolution = [f for f in facts(desk, tid) if f[1] == "resolution"]
        assert resolution == [
            ("warned", "resolution"),  # before the extension
            ("warned", "resolution"),  # of the extended limit
            ("breached", "resolution"),
            ("escalated", "resolution"),
        ]


def test_urgent_items_run_on_the_wall_clock_even_on_holidays(desk: Desk) -> None:
    with time_machine.travel(bj(2026, 10, 1, 23, 0), tick=False) as traveller:
        item = factories.received("燃气泄漏", received_at=bj(2026, 10, 1, 23, 0))
        desk.route(factories.routed(item, priority=Priority.URGENT))
        assert due_of(desk, item.data.ticket_no) == bj(2026, 10, 2, 1, 0)
        traveller.move_to(bj(2026, 10, 2, 0, 31))  # 75% of 2 h is 00:30
        desk.fire_clocks()
        kinds = facts(desk, item.data.ticket_id)
        assert ("warned", "resolution") in kinds and ("breached", "resolution") not in kinds
        traveller.move_to(bj(2026, 10, 2, 1, 1))
        desk.fire_clocks()
        assert ("breached", "resolution") in facts(desk, item.data.ticket_id)


def test_a_year_the_calendar_does_not_know_counts_monday_to_friday_with_overrides() -> None:
    calendar = WorkingCalendar(overrides={date(2027, 1, 1): False})
    # Thu 31 Dec 2026 + 2 working days: Fri 1 Jan 2027 is an override holiday -> Mon 4, Tue 5.
    assert calendar.end_of_working_days(bj(2026, 12, 31, 10, 0), 2) == bj(2027, 1, 5, 18, 0)
    calendar.end_of_working_days(bj(2027, 3, 1, 10, 0), 15)
    assert calendar.fallback_days > 0


def test_the_policy_file_gives_the_beijing_defaults() -> None:
    book = load_sla_book()
    calendar = book.calendar()
    start = bj(2026, 11, 23, 10, 0)  # a Monday

    def due(**kw: object) -> timedelta:
        policy = book.policy_for(**kw)  # type: ignore[arg-type]
        return book.due(calendar, policy.resolution, start) - start

    assert due(priority="urgent", category=None, department="urban") == timedelta(hours=2)
    assert due(priority="normal", category=None, department="water") == timedelta(hours=24)
    assert book.policy_for(priority="normal", category=None, department="urban").name == "general"
    assert (
        book.policy_for(priority="normal", category=None, department="urban", complex_=True).name
        == "complex"
    )
