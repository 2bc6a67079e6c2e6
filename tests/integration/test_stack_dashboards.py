"""A real Prometheus scrapes the running stack after a day's worth of tickets went through it:
every dashboard panel has data, and the 三率 equal the rates computed from followup's store."""

import csv
import random
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from deploy.grafana.generate import all_queries
from feedbackloop.devstack.processes import Stack
from feedbackloop.devstack.prometheus import LocalPrometheus
from feedbackloop.events import TicketEvent, decode
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup import auth, surveys
from services.followup.auth import Role
from services.followup.config import DEV_SURVEY_SECRET
from services.followup.database import open_store
from services.followup.models import CoHandler, OutboxMessage, Survey, Ticket
from tests.integration.conftest import HERE, free_port, wait_for

pytestmark = pytest.mark.integration

API = "/api/v1/workbench"
ROOT = HERE.parents[1]


def store_truth(store_url: str) -> dict[str, dict[str, float]]:
    """The 三率 per department, computed from followup's own records (not from the metrics)."""
    accepted_in_time, came_due = defaultdict(int), defaultdict(int)
    with open_store(store_url)() as session:
        events = [
            decode(row.payload, expect=TicketEvent).data
            for row in session.execute(
                select(OutboxMessage).where(OutboxMessage.topic == TICKET_EVENTS)
            ).scalars()
        ]
        # Each assignment (opened, re-routed, reopened) starts a 签收 limit for its department.
        waiting: dict[str, str | None] = {}  # ticket -> state of its current assignment
        for e in events:
            department = e.department_code or "none"
            if (
                e.kind in ("opened", "rerouted") and e.state_to == "routed"
            ) or e.kind == "reopened":
                waiting[e.ticket_id] = "waiting"
            elif e.kind == "breached" and e.clock == "response":
                if waiting.get(e.ticket_id) == "waiting":
                    waiting[e.ticket_id] = "late"
                    came_due[department] += 1
            elif e.kind == "accepted" and waiting.get(e.ticket_id):
                if waiting[e.ticket_id] == "waiting":
                    came_due[department] += 1
                    accepted_in_time[department] += 1
                waiting[e.ticket_id] = None
            # 主办/协办: a co-unit's own 签收 counts in its own 响应率.
            elif e.kind == "cohandler_assigned":
                waiting[f"{e.ticket_id}/{e.co_department_code}"] = "waiting"
            elif e.kind == "cohandler_withdrawn":
                waiting.pop(f"{e.ticket_id}/{e.co_department_code}", None)
            elif e.kind == "cohandler_overdue" and e.clock == "response":
                key = f"{e.ticket_id}/{e.co_department_code}"
                if waiting.get(key) == "waiting":
                    waiting[key] = "late"
                    came_due[e.co_department_code or "none"] += 1
            elif e.kind == "cohandler_accepted":
                key = f"{e.ticket_id}/{e.co_department_code}"
                if waiting.get(key) == "waiting":
                    came_due[e.co_department_code or "none"] += 1
                    accepted_in_time[e.co_department_code or "none"] += 1
                waiting[key] = None
        answered, solved, satisfied = defaultdict(int), defaultdict(int), defaultdict(int)
        co_units = defaultdict(list)  # a ticket's survey counts for its co-units too
        for unit in session.execute(select(CoHandler).where(CoHandler.state != "withdrawn")):
            co_units[unit[0].ticket_id].append(unit[0].department_code)
        rows = session.execute(select(Survey, Ticket).join(Ticket, Survey.ticket_id == Ticket.id))
        for survey, ticket in rows:
            if survey.satisfaction in (None, "no_response"):
                continue
            for unit in [ticket.department_code, *co_units[ticket.id]]:
                answered[unit] += 1
                solved[unit] += survey.solved in ("solved", "partly")
                satisfied[unit] += survey.satisfaction in ("satisfied", "basically")
    return {
        "feedbackloop_response_rate": {d: accepted_in_time[d] / n for d, n in came_due.items()},
        "feedbackloop_resolution_rate": {d: solved[d] / n for d, n in answered.items()},
        "feedbackloop_satisfaction_rate": {d: satisfied[d] / n for d, n in answered.items()},
    }


def test_a_day_through_the_running_stack_shows_on_every_panel(stack: Stack, tmp_path: Path) -> None:
    intake = stack.services["intake"].url
    followup = stack.services["followup"].url
    store_url = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    rng = random.Random(2026)
    with (stack.settings.data_dir / "dev.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle)][:48]
    # Five neighbours about one compound: the router raises a hotspot (5 in 24 h by default).
    burst = [
        {
            "title": "幸福小区路灯坏了",
            "text": f"A市A3区幸福小区{n}栋门口的路灯坏了一个多月，晚上很黑。",
        }
        for n in range(1, 6)
    ]
    numbers = []
    for row in [*burst, *({"title": r["subject"], "text": r["body"]} for r in rows)]:
        body = {"title": row["title"][:100], "text": row["text"][:2000] or row["title"]}
        reply = httpx.post(f"{intake}/api/v1/feedback", json=body, timeout=10)
        assert reply.status_code == 201, reply.text
        numbers.append(reply.json()["ticket_no"])

    def ticket(no: str) -> dict[str, object] | None:
        reply = httpx.get(f"{followup}/api/v1/tickets/{no}", timeout=5)
        return reply.json() if reply.status_code == 200 else None

    tickets = wait_for(
        lambda: all(t := [ticket(no) for no in numbers]) and t,
        timeout=120,
        what="every item to become a ticket",
    )
    tokens: dict[str, dict[str, str]] = {}
    with open_store(store_url).begin() as session:
        for code in {str(t["department_code"]) for t in tickets}:
            token = auth.create_credential(
                session=session,
                name=code,
                role=Role.DEPARTMENT,
                department_code=code,
                now=datetime.now(UTC),
            )
            tokens[code] = {"Authorization": f"Bearer {token}"}

    # Departments work most tickets; citizens answer most surveys, some unhappily.
    for t in tickets:
        no, department = str(t["ticket_no"]), str(t["department_code"])
        if t["state"] != "routed" or rng.random() < 0.15:
            continue
        path = f"{followup}{API}/tickets/{no}"
        assert httpx.post(f"{path}/accept", headers=tokens[department], timeout=10).is_success
        if rng.random() < 0.2:
            continue
        done = httpx.post(f"{path}/resolve", headers=tokens[department], json={"text": "已办结"})
        assert done.status_code == 200, done.text
        if rng.random() < 0.15:
            continue
        link = wait_for(lambda n=no: survey_link(followup, store_url, n), what="the survey link")
        choice = {
            "contacted": rng.choice(["yes", "yes", "no"]),
            "solved": rng.choice(["solved", "solved", "partly", "not"]),
            "satisfaction": rng.choice(["satisfied", "satisfied", "basically", "dissatisfied"]),
        }
        assert httpx.post(link, data=choice, timeout=10).status_code == 200

    services = stack.services
    prometheus = LocalPrometheus(
        home=tmp_path / "prometheus",
        port=free_port(),
        targets={name: f"127.0.0.1:{services[name].port}" for name in services},
        rule_files=[ROOT / "deploy" / "prometheus" / "alerts.yml"],
    )
    prometheus.start()
    try:
        truth = store_truth(store_url)

        def shown(name: str) -> dict[str, float]:
            result = prometheus.query(f"max without (instance) ({name})")
            return {r["metric"]["department"]: float(r["value"][1]) for r in result}

        def rates_match() -> bool:
            return all(
                shown(name).keys() == expected.keys()
                and all(abs(shown(name)[d] - v) < 1e-9 for d, v in expected.items())
                for name, expected in truth.items()
            )

        deadline = time.monotonic() + 90
        while not rates_match() and time.monotonic() < deadline:
            time.sleep(0.5)  # Prometheus scrapes every second
        for name, expected in truth.items():
            assert shown(name) == pytest.approx(expected, abs=1e-9), name
        department = str(tickets[0]["department_code"])
        queries = all_queries(department=department)
        left = queries
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            left = [(d, title, e) for d, title, e in queries if not prometheus.query(e)]
        assert left == [], f"panels without data: {left}"
    finally:
        prometheus.stop()


def survey_link(followup: str, store_url: str, ticket_no: str) -> str | None:
    """The link the citizen was sent, once the survey is out."""
    with open_store(store_url)() as session:
        ticket = session.execute(select(Ticket).where(Ticket.ticket_no == ticket_no)).scalar()
        survey = ticket and surveys.get_open_survey(session=session, ticket=ticket)
        if not survey:
            return None
        return surveys.survey_link(base_url=followup, secret=DEV_SURVEY_SECRET, survey=survey)
