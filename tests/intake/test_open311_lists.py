"""Open311 GeoReport v2 lists: GET requests.json without ids, its filters and defaults, what
unpublished and published requests show, hostile queries; the `georeport` client as the peer."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from georeport import GeoReport

from feedbackloop.events import TicketEventKind, TicketState
from services.intake.app import create_app
from services.intake.config import DEV_OPEN311_KEY, Settings
from services.intake.taxonomy import category_code
from services.intake.ticket_numbers import BEIJING, format_ticket_no
from tests.intake.open311_feed import REPLY, feed, feed_posted, public_record, received_of
from tests.intake.test_api import make_client
from tests.intake.test_open311 import GOOD, LAMP, V2, assert_georeport_errors, post
from tests.servers import serve_in_thread

GREEN = category_code("城乡建设", "安全生产")
LIST = f"{V2}/requests.json"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, rate_limit_per_minute=1000, open311_reads_per_minute=1000)


def ids(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [r["service_request_id"] for r in reply.json()]


def posted(client: TestClient, **fields: str | None) -> str:
    reply = post(client, **fields)
    assert reply.status_code == 201, reply.text
    return str(reply.json()[0]["service_request_id"])


def other_channel_ticket(
    client: TestClient, *, days_ago: float = 1, channel: str = "wechat"
) -> tuple[str, str, datetime]:
    """A ticket of another channel that the read model has heard of: (id, number, received)."""
    received = datetime.now(UTC) - timedelta(days=days_ago)
    ticket_id, sequence = str(uuid.uuid4()), uuid.uuid4().int % 90_000 + 1
    ticket_no = format_ticket_no(day=received.strftime("%y%m%d"), node=2, sequence=sequence)
    feed(
        client,
        ticket_id=ticket_id,
        ticket_no=ticket_no,
        received_at=received,
        state=TicketState.ACCEPTED,
        at=received + timedelta(minutes=5),
        channel=channel,
    )
    return ticket_id, ticket_no, received


def publish(
    client: TestClient, ticket: tuple[str, str, datetime], *, channel: str = "wechat"
) -> None:
    ticket_id, ticket_no, received = ticket
    at = received + timedelta(hours=2)
    feed(
        client,
        ticket_id=ticket_id,
        ticket_no=ticket_no,
        received_at=received,
        state=TicketState.RESOLVED,
        at=at,
        kind=TicketEventKind.PUBLISHED,
        channel=channel,
        publication=public_record(at),
    )


def test_the_list_has_open311_requests_newest_first_without_personal_data(
    client: TestClient,
) -> None:
    first, second = posted(client), posted(client, service_code=GREEN)
    assert ids(client.get(LIST)) == [second, first]
    feed_posted(client, first, TicketState.ACCEPTED, minutes=5)
    [_, working] = client.get(LIST).json()
    assert working["service_request_id"] == first and working["status"] == "open"
    assert working["agency_responsible"] == "市城市管理局"
    assert working["service_code"] == LAMP and working["service_name"] == "城市建设和市政管理"
    for field in ("description", "address", "lat", "long", "media_url"):
        assert working[field] is None
    text = client.get(LIST).text
    for private in (
        GOOD["description"],
        GOOD["address_string"],
        GOOD["lat"],
        "lamp.jpg",
        "13812345678",
    ):
        assert private not in text


def test_status_and_service_code_filter_the_list(client: TestClient) -> None:
    lamp, green, done = posted(client), posted(client, service_code=GREEN), posted(client)
    feed_posted(client, done, TicketState.RESOLVED, minutes=30)
    assert ids(client.get(LIST, params={"status": "closed"})) == [done]
    assert ids(client.get(LIST, params={"status": "open"})) == [green, lamp]
    assert ids(client.get(LIST, params={"status": "open,closed"})) == [done, green, lamp]
    assert ids(client.get(LIST, params={"service_code": GREEN})) == [green]
    both = {"service_code": f"{GREEN},{LAMP}", "status": "open"}
    assert ids(client.get(LIST, params=both)) == [green, lamp]
    assert ids(client.get(LIST, params={"service_code": "c00000000"})) == []
    feed_posted(client, done, TicketState.REOPENED, minutes=60)
    assert ids(client.get(LIST, params={"status": "closed"})) == []


def test_dates_search_requested_datetime_the_last_90_days_by_default(client: TestClient) -> None:
    recent = posted(client)
    old = other_channel_ticket(client, days_ago=120, channel="open311")
    assert ids(client.get(LIST)) == [recent]
    start = (old[2] - timedelta(days=1)).isoformat()
    end = (old[2] + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(client.get(LIST, params={"start_date": start, "end_date": end})) == [old[1]]
    assert ids(client.get(LIST, params={"start_date": start})) == [old[1]]
    assert ids(client.get(LIST, params={"end_date": end})) == [old[1]]
    # A bare date is midnight in Beijing, the city's time.
    tomorrow = (datetime.now(BEIJING) + timedelta(days=1)).date().isoformat()
    assert ids(client.get(LIST, params={"start_date": tomorrow})) == []
    wide = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    [too_wide] = assert_georeport_errors(client.get(LIST, params=wide), 400)
    assert "90 days" in too_wide and "90 天" in too_wide
    backwards = {"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}
    assert_georeport_errors(client.get(LIST, params=backwards), 400)


def test_at_most_1000_requests_are_listed(client: TestClient) -> None:
    base = datetime.now(UTC) - timedelta(days=1)
    for n in range(1005):
        at = base + timedelta(seconds=n)
        ticket_no = format_ticket_no(day=base.strftime("%y%m%d"), node=3, sequence=n + 1)
        feed(
            client,
            ticket_id=str(uuid.uuid4()),
            ticket_no=ticket_no,
            received_at=at,
            state=TicketState.ROUTED,
            at=at,
        )
    listed = client.get(LIST).json()
    assert len(listed) == 1000
    assert listed[0]["requested_datetime"] > listed[-1]["requested_datetime"]
    # The five oldest are the ones left out.
    oldest = format_ticket_no(day=base.strftime("%y%m%d"), node=3, sequence=6)
    assert listed[-1]["service_request_id"] == oldest


def test_published_requests_show_the_public_record_and_only_while_published(
    client: TestClient,
) -> None:
    mine = posted(client)
    ticket = other_channel_ticket(client)
    assert ids(client.get(LIST)) == [mine]  # another channel's ticket is not Open311's
    assert_georeport_errors(client.get(f"{V2}/requests/{ticket[1]}.json"), 404)
    publish(client, ticket)
    [entry] = client.get(f"{V2}/requests/{ticket[1]}.json").json()
    assert entry["status"] == "closed" and entry["status_notes"] == REPLY
    assert entry["description"].startswith("某小区门口的路灯")
    assert (entry["lat"], entry["long"], entry["address"]) == (28.228, 112.939, "岳麓区")
    assert entry["media_url"] == "https://img.example.org/public/lamp.jpg"
    # No service code names a WeChat ticket: its first-level category does.
    assert entry["service_code"] is None and entry["service_name"] == "城乡建设"
    assert ids(client.get(LIST)) == [mine, ticket[1]]
    ticket_id, ticket_no, received = ticket
    feed(
        client,
        ticket_id=ticket_id,
        ticket_no=ticket_no,
        received_at=received,
        state=TicketState.RESOLVED,
        at=received + timedelta(hours=3),
        kind=TicketEventKind.UNPUBLISHED,
        channel="wechat",
    )
    assert ids(client.get(LIST)) == [mine]
    assert REPLY not in client.get(LIST).text


def test_an_unpublished_open311_request_stays_listed_without_its_words(
    client: TestClient,
) -> None:
    ticket_no = posted(client)
    received = received_of(client, ticket_no).received_at
    published_at = received + timedelta(hours=2)
    feed_posted(
        client,
        ticket_no,
        TicketState.RESOLVED,
        minutes=120,
        kind=TicketEventKind.PUBLISHED,
        publication=public_record(published_at),
    )
    [entry] = client.get(LIST).json()
    assert entry["status_notes"] == REPLY and entry["description"] is not None
    # An unpublished older than the publication (redelivered late) changes nothing.
    feed_posted(
        client, ticket_no, TicketState.RESOLVED, minutes=90, kind=TicketEventKind.UNPUBLISHED
    )
    assert client.get(LIST).json()[0]["status_notes"] == REPLY
    feed_posted(
        client, ticket_no, TicketState.RESOLVED, minutes=180, kind=TicketEventKind.UNPUBLISHED
    )
    [entry] = client.get(LIST).json()
    assert entry["description"] is None and entry["lat"] is None and entry["media_url"] is None
    assert entry["status"] == "closed" and REPLY not in json.dumps(entry, ensure_ascii=False)


@pytest.mark.parametrize(
    "query",
    [
        {"status": "pending"},
        {"status": "open;closed"},
        {"service_code": "c" * 17},
        {"service_code": ",".join(f"c{n:08d}" for n in range(51))},
        {"service_code": "路灯"},
        {"start_date": "yesterday"},
        {"start_date": "2026-13-01"},
        {"start_date": "2026-02-30T00:00:00Z"},
        {"start_date": "2026-12-01T00:00:00"},  # a time needs its offset
        {"start_date": "0001-01-01"},
        {"end_date": "9999-12-31T23:59:59Z"},
        {"start_date": "2026-12-01T00:00:00+99:00"},
        {"start_date": "2026-12-01T00:00:00Z\x00"},
        {"service_request_id": ",".join(["2612011000017"] * 51)},
        {"service_request_id": "1" * 2000},
        {"start_date": "2" * 5000},
        {f"p{n}": "x" for n in range(40)},
    ],
)
def test_hostile_queries_get_georeport_400s(client: TestClient, query: dict[str, str]) -> None:
    assert_georeport_errors(client.get(LIST, params=query), 400)


def test_listing_is_rate_limited_per_client_address(tmp_path: Path) -> None:
    client = make_client(tmp_path, open311_reads_per_minute=2)
    assert [client.get(LIST).status_code for _ in range(2)] == [200, 200]
    reply = client.get(LIST)
    assert_georeport_errors(reply, 429)
    assert 1 <= int(reply.headers["Retry-After"]) <= 60


def test_the_georeport_client_lists_and_filters(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'intake.db'}", kafka_bootstrap="127.0.0.1:1"
    )
    app = create_app(settings)
    with serve_in_thread(app) as base:
        peer = GeoReport(f"{base}{V2}", jurisdiction="changsha", api_key=DEV_OPEN311_KEY)
        made = []
        for code in (LAMP, GREEN, LAMP):
            form = dict(GOOD, api_key=peer.api_key, service_code=code)
            created = httpx.post(f"{peer.root_address}/requests.json", data=form, timeout=10)
            assert created.status_code == 201, created.text
            made.append(created.json()[0]["service_request_id"])
        listed = peer.get_service_requests()
        assert [r["service_request_id"] for r in listed] == made[::-1]
        assert all(r["description"] is None and r["lat"] is None for r in listed)
        lamps = peer.get_service_requests(service_code=LAMP)
        assert [r["service_request_id"] for r in lamps] == [made[2], made[0]]
        today = datetime.now(UTC).date()
        window = peer.get_service_requests(
            start_date=f"{today - timedelta(days=1)}T00:00:00Z",
            end_date=f"{today + timedelta(days=1)}T00:00:00Z",
            status="open",
        )
        assert [r["service_request_id"] for r in window] == made[::-1]
        assert peer.get_service_requests(status="closed") == []
        # Resolved and published, as followup tells the read model.
        tests_client = TestClient(app)
        feed_posted(
            tests_client,
            made[0],
            TicketState.RESOLVED,
            minutes=0,
            kind=TicketEventKind.PUBLISHED,
            publication=public_record(datetime.now(UTC)),
        )
        [closed] = peer.get_service_requests(status="closed")
        assert closed["service_request_id"] == made[0] and closed["status_notes"] == REPLY
        assert closed["lat"] == 28.228 and closed["description"].startswith("某小区")
        fetched = peer.get_service_request(made[0])
        assert fetched["media_url"] == "https://img.example.org/public/lamp.jpg"
        by_ids = peer.get_service_requests(service_request_id=f"{made[0]},{made[1]}")
        assert [r["service_request_id"] for r in by_ids] == made[:2]


def test_a_slip_upstream_is_masked_again_and_only_web_photos_are_shown(
    client: TestClient,
) -> None:
    ticket_no = posted(client)
    received = received_of(client, ticket_no).received_at
    slipped = public_record(
        received,
        text="路灯坏了，请打13812345678找我。",
        reply="已修复，有问题请拨13912345678。",
        media_url="javascript:alert(1)",
    )
    feed_posted(
        client,
        ticket_no,
        TicketState.RESOLVED,
        minutes=60,
        kind=TicketEventKind.PUBLISHED,
        publication=slipped,
    )
    [entry] = client.get(LIST).json()
    assert "13812345678" not in entry["description"] and "138****5678" in entry["description"]
    assert "13912345678" not in entry["status_notes"]
    assert entry["media_url"] is None


def test_a_published_event_without_its_record_shows_nothing_new(client: TestClient) -> None:
    ticket = other_channel_ticket(client)
    ticket_id, ticket_no, received = ticket
    feed(
        client,
        ticket_id=ticket_id,
        ticket_no=ticket_no,
        received_at=received,
        state=TicketState.RESOLVED,
        at=received + timedelta(hours=1),
        kind=TicketEventKind.PUBLISHED,
        channel="wechat",
    )
    assert ticket_no not in ids(client.get(LIST))
