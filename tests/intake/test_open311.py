"""Open311 GeoReport v2: services from the taxonomy, requests in and out, spec-style errors."""

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from fastapi.testclient import TestClient
from georeport import GeoReport

from feedbackloop.events import (
    FeedbackReceived,
    Priority,
    TicketEvent,
    TicketEventKind,
    TicketState,
    decode,
)
from services.intake import service
from services.intake.app import create_app
from services.intake.config import DEV_OPEN311_KEY, Settings
from services.intake.taxonomy import TaxonomyError, category_code, parse_taxonomy
from services.intake.ticket_numbers import format_ticket_no, is_valid_ticket_no
from tests.intake.test_api import make_client, outbox
from tests.servers import serve_in_thread

V2 = "/open311/v2"
# A well-formed ticket number of a day long past: never handed out by these tests.
UNKNOWN = format_ticket_no(day="200101", node=1, sequence=1)
LAMP = category_code("城乡建设", "城市建设和市政管理")
GOOD = {
    "api_key": DEV_OPEN311_KEY,
    "service_code": LAMP,
    "lat": "28.2282",
    "long": "112.9388",
    "address_string": "A3区幸福小区3号楼",
    "description": "幸福小区3号楼门口的路灯已经坏了一个月，晚上出行很不安全。",
    "phone": "13812345678",
    "email": "citizen@example.org",
    "first_name": "San",
    "last_name": "Zhang",
    "media_url": "https://img.example.org/lamp.jpg",
}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, rate_limit_per_minute=1000)


def taxonomy_rows() -> list[dict[str, str]]:
    with Settings().taxonomy_path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def post(client: TestClient, **fields: str | None) -> httpx.Response:
    form = {name: value for name, value in dict(GOOD, **fields).items() if value is not None}
    return client.post(f"{V2}/requests.json", data=form)


def assert_georeport_errors(reply: httpx.Response, status: int) -> list[str]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert isinstance(body, list) and body
    assert all(set(e) == {"code", "description"} and e["code"] == status for e in body)
    return [e["description"] for e in body]


def test_the_service_list_covers_every_level2_category(client: TestClient) -> None:
    reply = client.get(f"{V2}/services.json")
    assert reply.status_code == 200
    services = reply.json()
    rows = taxonomy_rows()
    assert {s["service_name"] for s in services} == {r["level2"] for r in rows}
    assert len({s["service_name"] for s in services}) == 103
    # 其他 and 安全生产 recur under several level-1 categories: one service per pair.
    assert {(s["group"], s["service_name"]) for s in services} == {
        (r["level1"], r["level2"]) for r in rows
    }
    codes = [s["service_code"] for s in services]
    assert len(set(codes)) == len(codes)
    for entry in services:
        assert entry["service_code"].isascii() and entry["service_code"].isalnum()
        assert entry["metadata"] is False and entry["type"] == "realtime"
        assert entry["service_name"] in entry["description"]
    lamp = next(s for s in services if s["service_code"] == LAMP)
    assert "自来水供应" in lamp["keywords"].split(",")


def test_service_codes_do_not_change_between_releases() -> None:
    assert category_code("城乡建设", "安全生产") == "cb5674f9d"
    assert category_code("经济管理", "安全生产") != category_code("城乡建设", "安全生产")


def test_a_taxonomy_without_its_columns_is_refused() -> None:
    with pytest.raises(TaxonomyError):
        parse_taxonomy(["a,b,c", "1,2,3"])
    with pytest.raises(TaxonomyError):
        parse_taxonomy(["level1,level2,level3"])


def test_a_service_definition_has_no_attributes(client: TestClient) -> None:
    reply = client.get(f"{V2}/services/{LAMP}.json")
    assert reply.json() == {"service_code": LAMP, "attributes": []}
    assert_georeport_errors(client.get(f"{V2}/services/nope.json"), 404)


def test_a_good_request_gets_a_ticket_number_and_goes_downstream(client: TestClient) -> None:
    reply = post(client)
    assert reply.status_code == 201
    [answer] = reply.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert is_valid_ticket_no(answer["service_request_id"])
    assert answer["service_request_id"] in answer["service_notice"]
    [row] = outbox(client)
    event = decode(row.payload, expect=FeedbackReceived).data
    assert event.ticket_no == answer["service_request_id"]
    assert event.channel == "open311" and event.category_hint == "城市建设和市政管理"
    assert event.text == GOOD["description"]
    assert event.location is not None
    assert (event.location.lat, event.location.lng) == (28.2282, 112.9388)
    assert event.location.address == GOOD["address_string"]
    assert [(a.kind, a.url) for a in event.attachments] == [("image", GOOD["media_url"])]
    assert event.contact is not None and event.contact.phone_masked == "138****5678"
    assert event.contact.callback_consent is False  # only with callback_consent=true
    assert "Zhang" not in row.payload.decode() and "example.org/lamp" in row.payload.decode()


def test_a_phone_with_consent_may_be_called_back(client: TestClient) -> None:
    assert post(client, callback_consent="true").status_code == 201
    event = decode(outbox(client)[0].payload, expect=FeedbackReceived).data
    assert event.contact is not None and event.contact.callback_consent is True


@pytest.mark.parametrize("key", ["wrong-key", "", None])
def test_a_wrong_or_missing_api_key_gets_403(client: TestClient, key: str | None) -> None:
    [description] = assert_georeport_errors(post(client, api_key=key), 403)
    assert "api_key" in description
    assert outbox(client) == []


def test_an_unknown_service_code_gets_400(client: TestClient) -> None:
    [description] = assert_georeport_errors(post(client, service_code="c00000000"), 400)
    assert "service_code" in description and "was not found" in description
    assert outbox(client) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"service_code": None}, "service_code was not provided"),
        ({"lat": None, "long": None, "address_string": None}, "A location is required"),
        ({"long": None, "address_string": None}, "lat and long must be given together"),
        ({"lat": "91"}, "lat: "),
        ({"long": "east"}, "long: "),
        ({"description": None}, "description: Field required / 请填写诉求内容"),
        ({"description": "坏了"}, "诉求内容太短，至少需要 5 个字"),
        ({"phone": "12345"}, "phone: invalid value / 请填写有效的手机号码"),
        ({"media_url": "javascript:alert(1)"}, "media_url must be an http(s) URL"),
    ],
)
def test_invalid_fields_get_400_in_georeport_form(
    client: TestClient, fields: dict[str, Any], expected: str
) -> None:
    descriptions = assert_georeport_errors(post(client, **fields), 400)
    assert any(expected in d for d in descriptions), descriptions
    assert outbox(client) == []


def test_an_address_alone_is_a_location(client: TestClient) -> None:
    assert post(client, lat=None, long=None).status_code == 201


def test_a_retry_with_the_same_idempotency_key_gets_the_same_request(client: TestClient) -> None:
    headers = {"Idempotency-Key": "app-42"}
    first = client.post(f"{V2}/requests.json", data=GOOD, headers=headers)
    again = client.post(f"{V2}/requests.json", data=GOOD, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert len(outbox(client)) == 1
    assert post(client).json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


def test_too_many_requests_from_one_citizen_get_429(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=2)
    assert [post(client).status_code for _ in range(2)] == [201, 201]
    reply = post(client)
    assert_georeport_errors(reply, 429)
    assert 1 <= int(reply.headers["Retry-After"]) <= 60
    assert post(client, phone=None, email=None).status_code == 201


def seed(client: TestClient, ticket_no: str, state: TicketState, *, minutes: int) -> None:
    """Apply a ticket event to intake's read model, as the ticket.events follower would."""
    intake = client.app.state.intake  # type: ignore[attr-defined]
    received = decode(outbox(client)[0].payload, expect=FeedbackReceived).data
    event = TicketEvent(
        ticket_id=received.ticket_id,
        ticket_no=ticket_no,
        kind=TicketEventKind.CLOSED if state == TicketState.CLOSED else TicketEventKind.ACCEPTED,
        state_to=state,
        department_code="urban",
        department_name="市城市管理局",
        priority=Priority.NORMAL,
        actor="system",
        due_at=received.received_at + timedelta(days=9),
        received_at=received.received_at,
        occurred_at=received.received_at + timedelta(minutes=minutes),
    )
    with intake.sessions.begin() as session:
        assert service.update_ticket_status(session=session, event_id=f"e{minutes}", event=event)


def test_a_request_is_open_until_its_ticket_is_closed(client: TestClient) -> None:
    ticket_no = post(client).json()[0]["service_request_id"]
    url = f"{V2}/requests/{ticket_no}.json"
    [fresh] = client.get(url).json()
    assert fresh["service_request_id"] == ticket_no and fresh["status"] == "open"
    assert fresh["service_code"] == LAMP and fresh["service_name"] == "城市建设和市政管理"
    assert fresh["agency_responsible"] is None and "已受理" in fresh["status_notes"]
    requested = datetime.fromisoformat(fresh["requested_datetime"])
    assert requested.tzinfo is not None and abs(datetime.now(UTC) - requested).seconds < 60
    seed(client, ticket_no, TicketState.ACCEPTED, minutes=5)
    [working] = client.get(url).json()
    assert working["status"] == "open" and working["agency_responsible"] == "市城市管理局"
    assert working["expected_datetime"] is not None
    seed(client, ticket_no, TicketState.CLOSED, minutes=60)
    [closed] = client.get(url).json()
    assert closed["status"] == "closed"
    assert closed["updated_datetime"] > closed["requested_datetime"]


def test_unknown_ids_and_other_channels_tickets_get_404(client: TestClient) -> None:
    assert_georeport_errors(client.get(f"{V2}/requests/{UNKNOWN}.json"), 404)
    assert_georeport_errors(client.get(f"{V2}/requests/not-a-number.json"), 404)
    web = client.post("/api/v1/feedback", json={"text": "网页上提交的诉求，不公开。"})
    assert_georeport_errors(client.get(f"{V2}/requests/{web.json()['ticket_no']}.json"), 404)


def test_requests_are_found_by_a_list_of_ids(client: TestClient) -> None:
    first, second = (post(client).json()[0]["service_request_id"] for _ in range(2))
    ids = f"{first},{second},{UNKNOWN}"
    found = client.get(f"{V2}/requests.json", params={"service_request_id": ids}).json()
    assert [r["service_request_id"] for r in found] == [first, second]
    closed = {"service_request_id": ids, "status": "closed"}
    assert client.get(f"{V2}/requests.json", params=closed).json() == []
    # Without ids the list answers (tests/intake/test_open311_lists.py).
    listed = client.get(f"{V2}/requests.json").json()
    assert [r["service_request_id"] for r in listed] == [second, first]


def test_other_formats_and_paths_get_georeport_404s(client: TestClient) -> None:
    assert_georeport_errors(client.get(f"{V2}/services.xml"), 404)
    assert_georeport_errors(client.post(f"{V2}/requests.xml", data=GOOD), 404)
    assert outbox(client) == []


def test_without_the_taxonomy_open311_answers_503_and_the_rest_runs(tmp_path: Path) -> None:
    client = make_client(tmp_path, taxonomy_path=tmp_path / "missing.csv")
    assert_georeport_errors(client.get(f"{V2}/services.json"), 503)
    assert_georeport_errors(post(client), 503)
    assert client.post("/api/v1/feedback", json={"text": "网页渠道不受影响。"}).status_code == 201


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b'{"api_key": "dev-open311-key"}', "application/json"),
        (b"api_key=dev-open311-key&%%%&&==&lat=%ZZ", "application/x-www-form-urlencoded"),
        (b"api_key=dev-open311-key&description=%D5%FD%B3%A3", "application/x-www-form-urlencoded"),
        (
            "api_key=dev-open311-key&description=路灯坏了很久".encode(),
            "application/x-www-form-urlencoded",
        ),
        (b"api_key=dev-open311-key&lat=nan&long=inf", "application/x-www-form-urlencoded"),
        (b"api_key=dev-open311-key&" + b"x=1&" * 150, "application/x-www-form-urlencoded"),
        (b"--b\r\nContent-Disposition: form-data; name=api_key\r\n\r\n", "multipart/form-data"),
        (b"\xff\xfe\x00", "text/plain"),
    ],
)
def test_garbage_gets_a_georeport_4xx_never_a_5xx(
    client: TestClient, content: bytes, content_type: str
) -> None:
    reply = client.post(
        f"{V2}/requests.json", content=content, headers={"content-type": content_type}
    )
    assert 400 <= reply.status_code < 500, reply.text
    assert all("code" in e for e in reply.json())
    assert outbox(client) == []


def test_a_huge_request_gets_413(client: TestClient) -> None:
    assert post(client, description="很" * 30_000).status_code == 413


def test_a_round_trip_with_the_georeport_client(tmp_path: Path) -> None:
    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'intake.db'}", kafka_bootstrap="127.0.0.1:1")
    )
    with serve_in_thread(app) as base:
        client = GeoReport(f"{base}{V2}", api_key=DEV_OPEN311_KEY)
        services = client.get_service_list()
        assert len({s["service_name"] for s in services}) == 103
        chosen = next(s for s in services if s["service_name"] == "城市建设和市政管理")
        definition = client.get_service_definition(chosen["service_code"])
        assert definition == {"service_code": chosen["service_code"], "attributes": []}
        # georeport 0.3.1 cannot create requests; post as the spec says, form-encoded.
        form = dict(GOOD, api_key=client.api_key, service_code=chosen["service_code"])
        created = httpx.post(f"{client.root_address}/requests.json", data=form, timeout=10)
        assert created.status_code == 201
        ticket_no = created.json()[0]["service_request_id"]
        fetched = client.get_service_request(ticket_no)
        assert fetched["service_request_id"] == ticket_no
        assert fetched["status"] == "open" and fetched["service_code"] == chosen["service_code"]
        listed = client.get_service_requests(service_request_id=ticket_no)
        assert [r["service_request_id"] for r in listed] == [ticket_no]
        with pytest.raises(requests.HTTPError) as missing:
            client.get_service_request(UNKNOWN)
        answer = missing.value.response
        assert answer is not None and answer.status_code == 404
        assert answer.json()[0]["code"] == 404
