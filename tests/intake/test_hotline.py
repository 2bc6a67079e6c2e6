"""The hotline channel: single calls, JSONL batches, narratives and hostile input."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackloop.events import FeedbackReceived, decode
from tests.intake.test_api import make_client, outbox

BATCH = "/api/v1/hotline/calls:batch"
NDJSON = {"content-type": "application/x-ndjson"}


def call(n: int = 1, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "call_id": f"20261122-{n:05d}",
        "caller_number": "13912345678",
        "started_at": "2026-11-22T09:00:00+08:00",
        "ended_at": "2026-11-22T09:04:00+08:00",
        "agent_id": "A0317",
        "turns": [
            {"speaker": "agent", "text": "您好，12345热线，请讲。", "start_ms": 0, "end_ms": 2000},
            {"speaker": "caller", "text": "我家楼下自来水管爆了", "start_ms": 2100, "end_ms": 5000},
            {"speaker": "agent", "text": "请问具体地址？", "start_ms": 5100, "end_ms": 6500},
            {
                "speaker": "caller",
                "text": "幸福小区3栋，已经停水半天了",
                "start_ms": 6600,
                "end_ms": 9000,
            },
        ],
    }
    base.update(fields)
    return base


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, rate_limit_per_minute=3)  # a low limit must not hit the feed


def received(client: TestClient) -> list[FeedbackReceived]:
    return [decode(row.payload, expect=FeedbackReceived).data for row in outbox(client)]


def test_a_call_becomes_one_item_with_the_callers_words(client: TestClient) -> None:
    reply = client.post("/api/v1/hotline/calls", json=call())
    assert reply.status_code == 201, reply.text
    (item,) = received(client)
    assert item.channel == "hotline" and item.channel_ref == "20261122-00001"
    assert item.ticket_no == reply.json()["ticket_no"]
    assert item.text == "【来电人陈述】我家楼下自来水管爆了\n幸福小区3栋，已经停水半天了"
    assert item.title == "我家楼下自来水管爆了"
    assert item.contact is not None and item.contact.phone_masked == "139****5678"
    assert item.contact.callback_consent is True


def test_the_agent_summary_comes_first_and_gives_the_title(client: TestClient) -> None:
    summary = "市民反映幸福小区3栋水管爆裂停水。请水务部门尽快抢修。"
    client.post("/api/v1/hotline/calls", json=call(agent_summary=summary, urgency_hint="high"))
    (item,) = received(client)
    assert item.text.startswith("【话务员小结】" + summary + "\n【来电人陈述】")
    assert item.title == "市民反映幸福小区3栋水管爆裂停水"
    assert item.priority_hint == "high"


def test_the_same_call_id_twice_gives_one_ticket(client: TestClient) -> None:
    first = client.post("/api/v1/hotline/calls", json=call())
    again = client.post("/api/v1/hotline/calls", json=call())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["ticket_no"] == again.json()["ticket_no"]
    assert len(outbox(client)) == 1


def test_a_withheld_number_does_not_cost_the_complaint(client: TestClient) -> None:
    assert client.post("/api/v1/hotline/calls", json=call(caller_number="未知")).status_code == 201
    (item,) = received(client)
    assert item.contact is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"ended_at": "2026-11-22T08:00:00+08:00"}, "body", "结束时间早于开始时间"),
        ({"turns": []}, "body", "没有来电人的话"),
        ({"call_id": "has space"}, "call_id", "不能有空格"),
        ({"started_at": "yesterday"}, "started_at", "应当是时间"),
        (
            {"turns": [{"speaker": "robot", "text": "x", "start_ms": 0, "end_ms": 1}]},
            "turns.0.speaker",
            "只能是",
        ),
    ],
)
def test_invalid_calls_are_explained_in_chinese(
    client: TestClient, fields: dict[str, Any], field: str, message: str
) -> None:
    reply = client.post("/api/v1/hotline/calls", json=call(**fields))
    assert reply.status_code == 422
    errors = {e["field"]: e["message"] for e in reply.json()["errors"]}
    assert message in errors[field], errors
    assert outbox(client) == []


def jsonl(lines: list[Any]) -> bytes:
    return b"\n".join(
        line if isinstance(line, bytes) else json.dumps(line, ensure_ascii=False).encode()
        for line in lines
    )


def test_a_batch_reports_bad_lines_and_accepts_the_rest(client: TestClient) -> None:
    lines: list[Any] = [call(n) for n in range(50)]
    bad = {
        4: b"{not json",
        11: {k: v for k, v in call(11).items() if k != "call_id"},
        23: call(23, ended_at="2026-11-22T08:00:00+08:00"),
        37: call(37, turns=[]),
        45: call(45, turns="lots"),
    }
    for index, line in bad.items():
        lines[index] = line
    reply = client.post(BATCH, content=jsonl(lines), headers=NDJSON)
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (45, 0, 5)
    rejected = [r["line"] for r in report["results"] if r["status"] == "rejected"]
    assert rejected == [index + 1 for index in sorted(bad)]
    assert all(r["errors"][0]["message"] for r in report["results"] if r["status"] == "rejected")
    assert len(outbox(client)) == 45


def test_a_resent_batch_is_all_duplicates_and_blank_lines_are_ignored(client: TestClient) -> None:
    body = jsonl([call(n) for n in range(5)]) + b"\n\n\r\n"
    client.post(BATCH, content=body, headers=NDJSON)
    again = client.post(BATCH, content=body, headers=NDJSON).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 5, 0)
    assert len(outbox(client)) == 5


def test_a_batch_takes_at_most_10000_calls(client: TestClient) -> None:
    body = jsonl([b"{}"] * 10_001)
    report = client.post(BATCH, content=body, headers=NDJSON).json()
    assert report["rejected"] == 10_001
    assert "每批最多 10000" in report["results"][-1]["errors"][0]["message"]


def test_a_batch_in_another_format_gets_415(client: TestClient) -> None:
    reply = client.post(BATCH, content=b"<xml/>", headers={"content-type": "application/xml"})
    assert reply.status_code == 415 and "JSONL" in reply.json()["detail"]


turn = st.fixed_dictionaries(
    {
        "speaker": st.sampled_from(["caller", "agent", "robot", ""]),
        "text": st.text(max_size=50),
        "start_ms": st.integers(-5, 10**9),
        "end_ms": st.integers(-5, 10**9),
    }
)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
calls = st.fixed_dictionaries(
    {},
    optional={
        "call_id": st.text(max_size=20) | anything,
        "caller_number": st.text(max_size=20) | anything,
        "started_at": st.sampled_from(["2026-11-22T09:00:00", "x", ""]) | anything,
        "ended_at": st.sampled_from(["2026-11-22T09:01:00+08:00", "2020-01-01"]) | anything,
        "agent_id": st.text(max_size=10),
        "turns": st.lists(turn, max_size=4) | anything,
        "agent_summary": st.text(max_size=30) | anything,
        "urgency_hint": st.sampled_from(["urgent", "nope"]) | anything,
    },
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(body=calls | anything)
def test_no_call_body_gives_a_5xx(tmp_path_factory: pytest.TempPathFactory, body: Any) -> None:
    client = fuzz_client(tmp_path_factory)
    reply = client.post("/api/v1/hotline/calls", content=json.dumps(body).encode())
    assert reply.status_code < 500, reply.text


@FUZZ
@given(lines=st.lists(calls.map(json.dumps).map(str.encode) | st.binary(max_size=40), max_size=8))
def test_no_batch_gives_a_5xx(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> None:
    client = fuzz_client(tmp_path_factory)
    body = b"\n".join(lines)
    reply = client.post(BATCH, content=body, headers=NDJSON)
    assert reply.status_code < 500, reply.text
    assert reply.status_code != 200 or len(reply.json()["results"]) <= len(body.split(b"\n"))


_FUZZ_CLIENTS: dict[str, TestClient] = {}


def fuzz_client(factory: pytest.TempPathFactory) -> TestClient:
    """One client for all examples of a run: building an app per example would be slow."""
    if "client" not in _FUZZ_CLIENTS:
        _FUZZ_CLIENTS["client"] = make_client(factory.mktemp("hotline-fuzz"))
    return _FUZZ_CLIENTS["client"]
