"""The 督办 ladder on a real broker: a ticket passing its deadline reaches 提醒, 催办 and 通报,
each once, as events on ticket.events, as notices at the recipients' webhooks, in the
metrics service's counter, and as marks on the unit's workbench and the operator's view."""

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from feedbackloop.devstack.credentials import staff_headers
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup import flows
from services.followup.database import open_store
from services.followup.sla import load_sla_book
from tests import factories
from tests.integration.conftest import HERE, find_events, free_port, metric, wait_for
from tests.robots import Robots, serving

pytestmark = pytest.mark.integration

POLICIES = HERE / "sla-ladder-seconds.yaml"
STEPS = ["remind", "urge", "reprimand"]


@pytest.fixture
def robots() -> Iterator[Robots]:
    with serving() as made:
        yield made


def signed_in(base: str, headers: dict[str, str]) -> httpx.Client:
    """A browser-like client signed in to the workbench with a credential's token."""
    client = httpx.Client(base_url=base, timeout=10, follow_redirects=True)
    form = client.get("/workbench/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None, form
    token = headers["Authorization"].removeprefix("Bearer ")
    done = client.post("/workbench/login", data={"token": token, "csrf": csrf.group(1)})
    assert done.status_code == 200, done.text
    return client


def test_a_ticket_past_its_deadline_climbs_the_ladder_once_with_notices_metric_and_marks(
    broker: LocalKafka, robots: Robots, tmp_path: Path
) -> None:
    # A broker of its own: the shared stack's metrics must not count these steps.
    store_url = f"sqlite:///{tmp_path / 'followup.db'}"
    sessions = open_store(store_url)
    book = load_sla_book(POLICIES)
    desk = flows.Desk(book=book, calendar=book.calendar())
    run = f"{secrets.randbelow(10**6):06d}"
    env = {
        **os.environ,
        "FEEDBACKLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FEEDBACKLOOP_STATE_DIR": str(tmp_path),
        "FEEDBACKLOOP_FOLLOWUP_APP_ID": f"followup-ladder-{run}",
        "FEEDBACKLOOP_FOLLOWUP_DATABASE_URL": store_url,
        "FEEDBACKLOOP_FOLLOWUP_SLA_POLICIES": str(POLICIES),
        "FEEDBACKLOOP_FOLLOWUP_CLOCK_INTERVAL_SECONDS": "0.2",
        "FEEDBACKLOOP_FOLLOWUP_PORT": str(free_port()),
        "FEEDBACKLOOP_FOLLOWUP_HOST": "127.0.0.1",
        "FEEDBACKLOOP_FOLLOWUP_STAFF_WEBHOOKS": json.dumps(
            {
                "unit:urban": f"{robots.url}/urban",
                "supervisor": f"{robots.url}/supervisor",
                "leadership": f"{robots.url}/leadership",
            }
        ),
        "FEEDBACKLOOP_METRICS_PORT": str(free_port()),
        "FEEDBACKLOOP_METRICS_HOST": "127.0.0.1",
    }
    followup = ServiceProcess(
        "followup", int(env["FEEDBACKLOOP_FOLLOWUP_PORT"]), tmp_path / "followup.log"
    )
    metrics = ServiceProcess(
        "metrics", int(env["FEEDBACKLOOP_METRICS_PORT"]), tmp_path / "metrics.log"
    )
    received_at = datetime.now(UTC)
    item = factories.received(
        "小区门口路灯坏了一个月", received_at=received_at, ticket_no=f"2698{run}001"
    )
    with sessions.begin() as session:
        flows.apply_routing(
            session=session, desk=desk, routed=factories.routed(item), now=received_at
        )
    ticket_no, ticket_id = item.data.ticket_no, item.data.ticket_id
    unit = staff_headers(
        database_url=store_url, name="市城市管理局", role="department", department="urban"
    )
    operator = staff_headers(database_url=store_url, name="话务员小李", role="operator")
    try:
        followup.start(env)
        metrics.start(env)
        followup.wait_healthy(deadline=time.monotonic() + 60)
        metrics.wait_healthy(deadline=time.monotonic() + 60)

        # 36 s to the deadline, the 通报 10.8 s after it.
        events = find_events(
            broker.bootstrap,
            TICKET_EVENTS,
            lambda e: e.subject == ticket_id and e.data.kind == "supervised",
            count=3,
            timeout=120,
        )
        by_id = {e.id: e for e in events}  # the relay may send a copy; it keeps its id
        steps = [e.data.step for e in sorted(by_id.values(), key=lambda e: e.data.occurred_at)]
        assert steps == STEPS, "each step fires once, in order"
        reprimand = next(e for e in by_id.values() if e.data.step == "reprimand")
        reason = reprimand.data.reason or ""
        assert reason.startswith("通报：已超过办结时限")
        assert reason.endswith(
            "已通知市城市管理局、12345市民服务热线督办科、12345市民服务热线中心领导"
        )

        # One notice per recipient of each step, at the recipient's webhook.
        wait_for(lambda: len(robots.sent()) >= 6, timeout=60, what="six staff notices")
        sent = sorted((path, text.split("】")[0]) for path, text in robots.sent())
        assert sent == [
            ("/leadership", "【12345通报"),
            ("/supervisor", "【12345催办"),
            ("/supervisor", "【12345通报"),
            ("/urban", "【12345催办"),
            ("/urban", "【12345提醒"),
            ("/urban", "【12345通报"),
        ]
        assert all(ticket_no in text and "路灯" not in text for _, text in robots.sent())

        def counted() -> bool:
            return all(
                metric(
                    metrics.url,
                    "feedbackloop_supervision_steps_total",
                    {"step": step, "department": "urban"},
                )
                == 1
                for step in STEPS
            )

        wait_for(counted, timeout=60, what="the metrics service to count the three steps")

        pages = []
        for who in (unit, operator):  # the unit's workbench, then the operator's view
            client = signed_in(followup.url, who)
            try:
                pages.append(client.get(f"/workbench/tickets/{ticket_no}").text)
                if who is unit:
                    queue = client.get("/workbench").text
                    assert f'data-ticket="{ticket_no}"' in queue
                    assert 'data-step="reprimand">督办：通报</span>' in queue
            finally:
                client.close()
        for html in pages:
            marks = re.findall(
                r'<li data-step="(\w+)"><span class="sla sla-(\w+) ladder-mark">', html
            )
            assert marks == [("remind", "due_soon"), ("urge", "overdue"), ("reprimand", "overdue")]
        assert len(robots.sent()) == 6, "no notice twice"
    finally:
        followup.stop()
        metrics.stop()
