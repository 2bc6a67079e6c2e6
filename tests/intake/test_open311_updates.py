"""The `servicerequestupdates` extension: changes of listed requests, nothing personal, and a
FixMyStreet-style poller following a request from open to closed."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from feedbackloop.events import Priority, TicketEvent, TicketEventKind, TicketState, new_event
from services.intake import read_model
from services.intake.app import create_app
from services.intake.config import Settings
from services.intake.database import create_store
from services.intake.models import Open311Request, Open311Update
from tests.intake.fixmystreet import Poller
from tests.intake.open311_feed import REPLY, feed_posted, public_record, received_of
from tests.intake.test_api import make_client
from tests.intake.test_open311 import GOOD, V2, assert_georeport_errors, post
from tests.servers import serve_in_thread

UPDATES = f"{V2}/servicerequestupdates.json"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, rate_limit_per_minute=1000, open311_reads_per_minute=1000)


def updates(client: TestClient, **params: str) -> list[dict[str, object]]:
    reply = client.get(UPDATES, params=params)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"service_request_updates"}
    return list(body["service_request_updates"])


def window(client: TestClient, ticket_no: str, hours: int = 6) -> dict[str, str]:
    received = received_of(client, ticket_no).received_at
    return {
        "start_date": (received - timedelta(minutes=1)).isoformat(),
        "end_date": (received + timedelta(hours=hours)).isoformat(),
    }


def test_state_changes_are_updates_with_fixed_phrases_oldest_first(client: TestClient) -> None:
    ticket_no = post(client).json()[0]["service_request_id"]
    opened = feed_posted(client, ticket_no, TicketState.ROUTED, minutes=1)
    accepted = feed_posted(client, ticket_no, TicketState.ACCEPTED, minutes=10)
    # A note does not change the state: no update.
    feed_posted(client, ticket_no, TicketState.ACCEPTED, minutes=20, kind=TicketEventKind.NOTED)
    resolved = feed_posted(client, ticket_no, TicketState.RESOLVED, minutes=60)
    found = updates(client, **window(client, ticket_no))
    assert [u["update_id"] for u in found] == [opened, accepted, resolved]
    assert [u["status"] for u in found] == ["open", "in_progress", "closed"]
    assert [u["description"] for u in found] == [
        "已派单，等待承办单位签收",
        "承办单位已签收，正在办理",
        "已办结",
    ]
    assert all(u["service_request_id"] == ticket_no and u["media_url"] is None for u in found)
    assert all(datetime.fromisoformat(str(u["updated_datetime"])).tzinfo for u in found)
    text = httpx.Response(200, json=found).text
    for private in (GOOD["description"], GOOD["address_string"], "lamp.jpg", "13812345678"):
        assert private not in text


def test_a_redelivered_event_is_one_update(client: TestClient) -> None:
    ticket_no = post(client).json()[0]["service_request_id"]
    for _ in range(3):
        feed_posted(client, ticket_no, TicketState.ACCEPTED, minutes=10, event_id="e-accepted")
    assert [u["update_id"] for u in updates(client, **window(client, ticket_no))] == ["e-accepted"]


def test_the_publication_is_the_update_that_carries_the_reply(client: TestClient) -> None:
    ticket_no = post(client).json()[0]["service_request_id"]
    received = received_of(client, ticket_no).received_at
    feed_posted(client, ticket_no, TicketState.RESOLVED, minutes=60)
    published = feed_posted(
        client,
        ticket_no,
        TicketState.RESOLVED,
        minutes=61,
        kind=TicketEventKind.PUBLISHED,
        publication=public_record(received + timedelta(minutes=60)),
    )
    last = updates(client, **window(client, ticket_no))[-1]
    assert last["update_id"] == published and last["description"] == REPLY
    assert last["media_url"] == "https://img.example.org/public/lamp.jpg"
    feed_posted(
        client, ticket_no, TicketState.RESOLVED, minutes=90, kind=TicketEventKind.UNPUBLISHED
    )
    last = updates(client, **window(client, ticket_no))[-1]
    assert last["description"] == "已办结" and last["media_url"] is None


def test_other_channels_unpublished_tickets_have_no_updates(client: TestClient) -> None:
    web = client.post("/api/v1/feedback", json={"text": "网页上提交的诉求，不公开。"}).json()
    ticket_no = web["ticket_no"]
    feed_posted(client, ticket_no, TicketState.ACCEPTED, minutes=5, channel="web")
    assert updates(client, **window(client, ticket_no)) == []


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "last week"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"},
        {"start_date": "2026-12-02T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"},
        {"end_date": "2026-12-01T25:00:00Z"},
        {"jurisdiction_id": "x" * 500},
    ],
)
def test_hostile_update_queries_get_georeport_400s(
    client: TestClient, query: dict[str, str]
) -> None:
    assert_georeport_errors(client.get(UPDATES, params=query), 400)


def test_updates_are_read_only(client: TestClient) -> None:
    reply = client.post(UPDATES, data={"service_request_id": "1", "description": "x"})
    assert_georeport_errors(reply, 405)
    assert reply.headers["Allow"] == "GET"


def test_a_fixmystreet_poller_sees_a_request_go_from_open_to_closed(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'intake.db'}", kafka_bootstrap="127.0.0.1:1"
    )
    app = create_app(settings)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        created = http.post(f"{V2}/requests.json", data=GOOD)
        assert created.status_code == 201, created.text
        ticket_no = created.json()[0]["service_request_id"]
        local = TestClient(app)
        received = received_of(local, ticket_no).received_at
        poller = Poller(http=http, root=V2, since=received - timedelta(hours=1))
        assert poller.poll(received) == 0 and poller.reports == {}
        feed_posted(local, ticket_no, TicketState.ACCEPTED, minutes=10)
        assert poller.poll(received + timedelta(minutes=15)) == 1
        assert poller.reports[ticket_no].status == "open"
        feed_posted(local, ticket_no, TicketState.RESOLVED, minutes=30)
        feed_posted(
            local,
            ticket_no,
            TicketState.RESOLVED,
            minutes=31,
            kind=TicketEventKind.PUBLISHED,
            publication=public_record(received + timedelta(minutes=30)),
        )
        # The overlap asks again for what was seen: nothing is applied twice.
        assert poller.poll(received + timedelta(minutes=40)) == 2
        assert poller.poll(received + timedelta(minutes=50)) == 0
        report = poller.reports[ticket_no]
        assert report.status == "closed" and report.status_notes == REPLY
        assert report.updated == received.replace(microsecond=0) + timedelta(minutes=31)


def test_one_batch_with_a_new_ticket_and_a_duplicate_is_applied_once(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'intake.db'}")
    ticket_id, now = str(uuid.uuid4()), datetime.now(UTC)

    def event(state: TicketState, kind: TicketEventKind, minutes: int, event_id: str) -> Any:
        data = TicketEvent(
            ticket_id=ticket_id,
            ticket_no="2612011000017",
            kind=kind,
            state_to=state,
            priority=Priority.NORMAL,
            actor="system",
            received_at=now,
            occurred_at=now + timedelta(minutes=minutes),
            channel="open311",
        )
        return new_event(data=data, source="/followup", subject=ticket_id, event_id=event_id)

    batch = [
        event(TicketState.ROUTED, TicketEventKind.OPENED, 1, "opened"),
        event(TicketState.ACCEPTED, TicketEventKind.ACCEPTED, 2, "accepted"),
        event(TicketState.ACCEPTED, TicketEventKind.ACCEPTED, 2, "accepted"),
    ]
    with sessions.begin() as session:
        for envelope in batch:
            read_model.apply_event(session, envelope)
    with sessions() as session:
        stored = session.execute(select(Open311Update.update_id)).scalars().all()
        record = session.get(Open311Request, ticket_id)
    assert sorted(stored) == ["accepted", "opened"]
    assert record is not None and record.state == "accepted"
