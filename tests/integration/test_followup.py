"""Followup on a real broker: the whole loop through a survey, and clocks across a SIGKILL."""

import os
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess, Stack
from feedbackloop.events import Envelope, TicketEvent
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup import auth, flows, service, surveys
from services.followup.auth import Role
from services.followup.config import DEV_SURVEY_SECRET
from services.followup.database import open_store
from services.followup.models import Clock, OutboxMessage
from services.followup.sla import load_sla_book
from tests import factories
from tests.integration.conftest import HERE, find_events, free_port, wait_for

pytestmark = pytest.mark.integration

API = "/api/v1/workbench"


def submit_form(intake: str, text: str) -> str:
    """Fill in and send the citizen web form; the ticket number from the page."""
    form = httpx.get(f"{intake}/form", timeout=10).text
    token = re.search(r'name="token" value="([^"]+)"', form)
    assert token is not None
    page = httpx.post(
        f"{intake}/form",
        data={
            "title": "小区停水",
            "text": text,
            "address": "A市A3区幸福小区3栋",
            "contact_phone": factories.fresh_phone(),
            "callback_consent": "yes",
            "token": token.group(1),
        },
        timeout=10,
    )
    assert page.status_code == 200, page.text
    number = re.search(r'<p class="ticket">(\d+)</p>', page.text)
    assert number is not None, page.text
    return number.group(1)


def answer_survey(followup: str, store_url: str, ticket_no: str, solved: str, rating: str) -> None:
    """Open the survey link the citizen was sent and answer it."""
    sessions = open_store(store_url)

    def link() -> str | None:
        with sessions() as session:
            ticket = service.get_ticket(session=session, ticket_no=ticket_no)
            survey = ticket and surveys.get_open_survey(session=session, ticket=ticket)
            if not survey:
                return None
            return surveys.survey_link(base_url=followup, secret=DEV_SURVEY_SECRET, survey=survey)

    url = wait_for(link, what="the survey invitation")
    assert "请您评价本次办理" in httpx.get(url, timeout=10).text
    answers = {"contacted": "yes", "solved": solved, "satisfaction": rating}
    done = httpx.post(url, data=answers, timeout=10)
    assert done.status_code == 200 and "感谢您的评价" in done.text


def test_the_whole_loop_from_web_form_through_a_reopen_to_closed(
    kafka: LocalKafka, stack: Stack
) -> None:
    intake = stack.services["intake"].url
    followup = stack.services["followup"].url
    store_url = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    with open_store(store_url).begin() as session:
        token = auth.create_credential(
            session=session,
            name="市水务局",
            role=Role.DEPARTMENT,
            department_code="water",
            now=datetime.now(UTC),
        )
    water = {"Authorization": f"Bearer {token}"}

    ticket_no = submit_form(intake, "幸福小区3栋自来水管漏水，已经停水两天了，请尽快派人维修。")
    path = f"{followup}{API}/tickets/{ticket_no}"
    routed = wait_for(lambda: (r := httpx.get(path, headers=water)).is_success and r.json())
    assert (routed["state"], routed["department_code"]) == ("routed", "water")

    def act(action: str, **body: str) -> dict[str, object]:
        reply = httpx.post(f"{path}/{action}", headers=water, json=body or None, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    act("accept")
    act("resolve", text="已更换漏水管段，恢复供水")
    answer_survey(followup, store_url, ticket_no, "not", "dissatisfied")
    reopened = httpx.get(path, headers=water).json()
    assert (reopened["state"], reopened["priority"]) == ("reopened", "high")
    act("resolve", text="已复查，水压正常")
    answer_survey(followup, store_url, ticket_no, "solved", "satisfied")
    closed = httpx.get(path, headers=water).json()
    assert closed["state"] == "closed"

    trail = [(s["kind"], s["state_to"], s["actor"]) for s in closed["timeline"]]
    assert trail == [
        ("opened", "routed", "system"),
        ("accepted", "accepted", "department:water"),
        ("resolved", "resolved", "department:water"),
        ("survey_invited", "resolved", "system"),
        ("surveyed", "surveyed", "citizen"),
        ("reopened", "reopened", "system"),
        ("resolved", "resolved", "department:water"),
        ("survey_invited", "resolved", "system"),
        ("surveyed", "surveyed", "citizen"),
        ("closed", "closed", "system"),
    ]
    ticket_id = find_ticket_id(store_url, ticket_no)
    published = find_events(
        kafka.bootstrap, TICKET_EVENTS, lambda e: e.subject == ticket_id, count=len(trail)
    )
    unique: dict[str, Envelope[TicketEvent]] = {}
    for event in published:  # in partition order; the relay may send a copy, dropped here
        unique.setdefault(event.id, event)
    kinds = [e.data.kind.value for e in unique.values()]
    assert kinds == [kind for kind, _, _ in trail]
    satisfaction = [e.data.satisfaction for e in unique.values() if e.data.kind == "surveyed"]
    assert sorted(satisfaction) == ["dissatisfied", "satisfied"]


def find_ticket_id(store_url: str, ticket_no: str) -> str:
    with open_store(store_url)() as session:
        ticket = service.get_ticket(session=session, ticket_no=ticket_no)
        assert ticket is not None
        return ticket.id


def test_clocks_that_came_due_while_followup_was_killed_fire_once_after_restart(
    broker: LocalKafka, tmp_path: Path
) -> None:
    # A broker of its own: these tickets' events must not reach the shared stack's metrics.
    kafka = broker
    policies = HERE / "sla-seconds.yaml"
    store_url = f"sqlite:///{tmp_path / 'followup.db'}"
    sessions = open_store(store_url)
    book = load_sla_book(policies)
    desk = flows.Desk(book=book, calendar=book.calendar())
    run = f"{secrets.randbelow(10**6):06d}"
    opened_at = datetime.now(UTC)
    ticket_ids = []
    with sessions.begin() as session:
        for n in range(50):
            item = factories.received(
                f"第{n}号测试诉求", received_at=opened_at, ticket_no=f"2699{run}{n:03d}"
            )
            flows.apply_routing(
                session=session, desk=desk, routed=factories.routed(item), now=opened_at
            )
            ticket_ids.append(item.data.ticket_id)
    env = {
        **os.environ,
        "FEEDBACKLOOP_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "FEEDBACKLOOP_FOLLOWUP_APP_ID": f"followup-restart-{run}",
        "FEEDBACKLOOP_FOLLOWUP_DATABASE_URL": store_url,
        "FEEDBACKLOOP_FOLLOWUP_SLA_POLICIES": str(policies),
        "FEEDBACKLOOP_FOLLOWUP_CLOCK_INTERVAL_SECONDS": "0.2",
        "FEEDBACKLOOP_FOLLOWUP_PORT": str(free_port()),
        "FEEDBACKLOOP_FOLLOWUP_HOST": "127.0.0.1",
    }
    followup = ServiceProcess(
        "followup", int(env["FEEDBACKLOOP_FOLLOWUP_PORT"]), tmp_path / "f.log"
    )
    followup.start(env)
    followup.wait_healthy(deadline=time.monotonic() + 60)
    assert count_fired(sessions) == 0, "a clock fired before the kill: the limits are too short"
    followup.stop(kill=True)  # SIGKILL: no shutdown code runs

    # 36 s resolution limit: wait (on the wall clock) until every limit has passed.
    last_due = opened_at.timestamp() + 36 + 1
    wait_for(lambda: time.time() > last_due, timeout=60, what="the limits to pass")
    followup.start(env)
    try:
        followup.wait_healthy(deadline=time.monotonic() + 60)
        expected = 50 * 6  # warned, breached, escalated; for response and resolution
        events = find_events(
            kafka.bootstrap,
            TICKET_EVENTS,
            lambda e: e.subject in set(ticket_ids) and e.data.kind != "opened",
            count=expected,
            timeout=90,
        )
        wait_for(lambda: nothing_left(sessions), what="every clock moment to have fired")
    finally:
        followup.stop()
    moments: dict[tuple[str, str, str], set[str]] = {}
    for event in events:
        key = (event.subject, event.data.kind.value, event.data.clock or "")
        moments.setdefault(key, set()).add(event.id)
    assert len(moments) == expected
    assert all(len(ids) == 1 for ids in moments.values()), "a moment fired twice"
    with sessions() as session:
        unsent = session.execute(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert unsent.first() is None


def count_fired(sessions: object) -> int:
    with sessions() as session:  # type: ignore[operator]
        clocks = session.execute(select(Clock)).scalars()
        return sum(1 for c in clocks if c.warned_at or c.fired_at)


def nothing_left(sessions: object) -> bool:
    with sessions() as session:  # type: ignore[operator]
        running = session.execute(select(Clock).where(Clock.next_at.is_not(None))).first()
        unsent = session.execute(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        return running is None and unsent.first() is None
