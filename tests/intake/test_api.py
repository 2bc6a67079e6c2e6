"""Intake's web API without a broker: answers, errors in Chinese, and the outbox."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from feedbackloop.events import FeedbackReceived, decode
from services.intake.app import create_app
from services.intake.config import Settings
from services.intake.models import OutboxMessage, Submission
from services.intake.ticket_numbers import is_valid_ticket_no

GOOD = {
    "title": "小区路灯不亮",
    "text": "幸福小区3号楼门口的路灯已经坏了一个月，晚上出行很不安全，联系电话13812345678。",
    "contact_phone": "138 1234 5678",
    "callback_consent": True,
    "location": "A市A3区幸福小区3号楼",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield make_client(tmp_path, rate_limit_per_minute=1000)


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    """A client of an intake whose relay never runs, as if Kafka were down."""
    # No `with`: the lifespan (and so the relay) does not run.
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
        kafka_bootstrap="127.0.0.1:1",
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(create_app(config), raise_server_exceptions=False)


def outbox(client: TestClient) -> list[OutboxMessage]:
    with client.app.state.intake.sessions() as session:  # type: ignore[attr-defined]
        return list(session.execute(select(OutboxMessage)).scalars())


def test_an_item_is_accepted_with_a_ticket_number_while_kafka_is_down(client: TestClient) -> None:
    reply = client.post("/api/v1/feedback", json=GOOD)
    assert reply.status_code == 201
    body = reply.json()
    assert is_valid_ticket_no(body["ticket_no"])
    assert body["ticket_no"] in body["message"]
    rows = outbox(client)
    assert len(rows) == 1 and rows[0].sent_at is None
    event = decode(rows[0].payload, expect=FeedbackReceived)
    assert event.data.ticket_no == body["ticket_no"]
    assert event.data.channel == "web"
    assert event.data.location is not None and event.data.location.address == GOOD["location"]
    assert client.get("/healthz").json()["outbox_pending"] == 1


def test_the_phone_number_travels_masked_and_stays_raw_only_in_intake(client: TestClient) -> None:
    client.post("/api/v1/feedback", json=GOOD)
    event = decode(outbox(client)[0].payload, expect=FeedbackReceived)
    assert event.data.contact is not None
    assert event.data.contact.phone_masked == "138****5678"
    assert event.data.contact.callback_consent is True
    intake = client.app.state.intake  # type: ignore[attr-defined]
    with intake.sessions() as session:
        stored = session.execute(select(Submission)).scalar_one()
    assert stored.contact_phone_encrypted is not None
    assert "13812345678" not in stored.contact_phone_encrypted
    assert intake.cipher.decrypt(stored.contact_phone_encrypted) == "+8613812345678"


def test_every_caller_is_named_by_a_keyed_hash_with_or_without_consent(
    client: TestClient,
) -> None:
    """Followup links a repeat caller by it (重复来电), so it must not need the consent that
    seals the number, and must say nothing of the number itself."""
    client.post("/api/v1/feedback", json=dict(GOOD, callback_consent=False))
    client.post("/api/v1/feedback", json=dict(GOOD, contact_phone="+86 13812345678"))
    client.post("/api/v1/feedback", json=dict(GOOD, contact_phone="13900001111"))
    contacts = [decode(row.payload, expect=FeedbackReceived).data.contact for row in outbox(client)]
    keys = [contact.caller_key if contact else None for contact in contacts]
    assert keys[0] is not None and keys[0] == keys[1] != keys[2]
    assert contacts[0] is not None and contacts[0].phone_sealed is None
    assert all(b"13812345678" not in row.payload for row in outbox(client))


def test_a_structured_location_is_kept(client: TestClient) -> None:
    where = {"address": "幸福小区", "district": "A3区", "lat": 28.2, "lng": 112.9}
    body = dict(GOOD, location=where)
    assert client.post("/api/v1/feedback", json=body).status_code == 201
    event = decode(outbox(client)[0].payload, expect=FeedbackReceived)
    assert event.data.location is not None and event.data.location.district == "A3区"


def test_field_errors_are_explained_in_chinese(client: TestClient) -> None:
    reply = client.post("/api/v1/feedback", json={"text": "坏了", "contact_phone": "12345"})
    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e["message"] for e in reply.json()["errors"]}
    assert errors["text"] == "诉求内容太短，至少需要 5 个字"
    assert "有效的手机号码" in errors["contact_phone"]
    assert outbox(client) == []


def test_a_missing_text_is_asked_for(client: TestClient) -> None:
    reply = client.post("/api/v1/feedback", json={"title": "路灯"})
    assert reply.status_code == 422
    assert {"field": "text", "message": "请填写诉求内容"} in reply.json()["errors"]


def test_an_oversized_body_gets_413_before_it_is_read(client: TestClient) -> None:
    reply = client.post("/api/v1/feedback", json=dict(GOOD, text="很" * 100_000))
    assert reply.status_code == 413
    assert "KB" in reply.json()["detail"]
    assert outbox(client) == []


def test_blank_idempotency_keys_are_no_keys(client: TestClient) -> None:
    # Found by the fuzzer: a second blank key was a 500 (a unique-constraint clash).
    for key in ["", "  ", ""]:
        reply = client.post("/api/v1/feedback", json=GOOD, headers={"Idempotency-Key": key})
        assert reply.status_code == 201, reply.text
    assert len(outbox(client)) == 3


def test_a_repeated_idempotency_key_returns_the_same_ticket(client: TestClient) -> None:
    headers = {"Idempotency-Key": "form-7f3a"}
    first = client.post("/api/v1/feedback", json=GOOD, headers=headers).json()
    second = client.post("/api/v1/feedback", json=GOOD, headers=headers).json()
    assert first["ticket_no"] == second["ticket_no"]
    assert len(outbox(client)) == 1


def test_concurrent_requests_get_distinct_ticket_numbers(client: TestClient) -> None:
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: client.post("/api/v1/feedback", json=GOOD), range(40)))
    numbers = {r.json()["ticket_no"] for r in replies}
    assert all(r.status_code == 201 for r in replies)
    assert len(numbers) == 40
    assert len(outbox(client)) == 40


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1,2,3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"null", "application/json"),
        (b"text=hello", "application/x-www-form-urlencoded"),
        ("诉求".encode("gbk"), "application/json"),
        (b'{"text": 12345678}', "application/json"),
        ('{"text": "正常的诉求内容", "location": {"lat": 999}}'.encode(), "application/json"),
        ('{"text": "正常的诉求内容", "callback_consent": "maybe"}'.encode(), "application/json"),
        (b'{"text": "\\u0000\\u0000\\u0000\\u0000\\u0000"}', "application/json"),
    ],
)
def test_malformed_input_gets_a_clear_4xx_never_a_5xx(
    client: TestClient, content: bytes, content_type: str
) -> None:
    reply = client.post("/api/v1/feedback", content=content, headers={"content-type": content_type})
    assert 400 <= reply.status_code < 500, reply.text
    assert reply.json()["detail"]


def test_unknown_paths_and_methods_are_problems_in_chinese(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and "没有这个地址" in missing.json()["detail"]
    wrong = client.delete("/api/v1/feedback")
    assert wrong.status_code == 405 and wrong.json()["title"] == "不支持这种请求方式"


def test_metrics_are_exposed_without_personal_data(client: TestClient) -> None:
    client.post("/api/v1/feedback", json=GOOD)
    text = client.get("/metrics").text
    assert 'feedbackloop_intake_accepted_total{channel="web"} 1.0' in text
    assert "feedbackloop_intake_outbox_pending 1.0" in text
    assert "138" not in text


def test_text_is_cleaned_of_invisible_characters_and_stray_blanks(client: TestClient) -> None:
    body = dict(GOOD, text="\t\t路灯\u200b坏了\r\n\r\n\r\n\r\n已经   一个月了\x07  ")
    assert client.post("/api/v1/feedback", json=body).status_code == 201
    event = decode(outbox(client)[0].payload, expect=FeedbackReceived)
    assert event.data.text == "路灯坏了\n\n已经 一个月了"


def test_too_many_items_from_one_source_get_429_with_retry_after(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=3)
    replies = [client.post("/api/v1/feedback", json=GOOD) for _ in range(4)]
    assert [r.status_code for r in replies] == [201, 201, 201, 429]
    assert 1 <= int(replies[-1].headers["Retry-After"]) <= 60
    assert "太频繁" in replies[-1].json()["detail"]
    assert len(outbox(client)) == 3


def test_a_retry_with_the_same_key_is_answered_even_when_rate_limited(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=1)
    headers = {"Idempotency-Key": "once"}
    first = client.post("/api/v1/feedback", json=GOOD, headers=headers)
    again = client.post("/api/v1/feedback", json=GOOD, headers=headers)
    assert again.status_code == 201
    assert again.json()["ticket_no"] == first.json()["ticket_no"]


def test_personal_numbers_in_the_text_are_masked_downstream(client: TestClient) -> None:
    text = (
        "我叫张三，身份证11010519491231002X，电话 139-1234-5678，退款请打到卡6222021234567890128。"
    )
    assert client.post("/api/v1/feedback", json=dict(GOOD, text=text)).status_code == 201
    masked = decode(outbox(client)[0].payload, expect=FeedbackReceived).data.text
    assert "11010519491231002X" not in masked and "1101**********002X" in masked
    assert "139****5678" in masked
    assert "6222021234567890128" not in masked
