"""The hotline channel: single calls, JSONL batches, narratives and hostile input."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackloop.events import FeedbackReceived, decode
from services.intake.channels.hotline import LineTooLong, _lines
from services.intake.credentials import Kind, create_credential, revoke_credential
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
    client = make_client(tmp_path, rate_limit_per_minute=3)  # a low limit must not hit the feed
    return as_call_centre(client)


def add_call_centre(client: TestClient, name: str = "12345热线话务系统") -> str:
    """A new call-centre credential in the client's intake store; its token."""
    with client.app.state.intake.sessions.begin() as session:  # type: ignore[attr-defined]
        return create_credential(
            session=session, kind=Kind.HOTLINE, name=name, now=datetime.now(UTC)
        )


def as_call_centre(client: TestClient) -> TestClient:
    """The client, posting with a call centre's credential from now on."""
    client.headers["Authorization"] = f"Bearer {add_call_centre(client)}"
    return client


def credential_id(client: TestClient) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ").split(".")[0]


def received(client: TestClient) -> list[FeedbackReceived]:
    return [decode(row.payload, expect=FeedbackReceived).data for row in outbox(client)]


def test_a_call_becomes_one_item_with_the_callers_words(client: TestClient) -> None:
    reply = client.post("/api/v1/hotline/calls", json=call())
    assert reply.status_code == 201, reply.text
    (item,) = received(client)
    # The reference names the call centre: its call_ids are its own.
    assert (
        item.channel == "hotline" and item.channel_ref == f"{credential_id(client)}/20261122-00001"
    )
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
        ({"call_id": "x" * 101}, "call_id", "最多 100 个字"),
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


def test_a_batch_takes_at_most_10000_lines(client: TestClient) -> None:
    # Past the cap the body is not read: 413, with the results of the lines taken before it.
    reply = client.post(BATCH, content=jsonl([b"{}"] * 10_001), headers=NDJSON)
    assert reply.status_code == 413
    assert reply.headers["content-type"] == "application/problem+json"
    report = reply.json()
    assert "每批最多 10000 行" in report["detail"]
    assert report["rejected"] == len(report["results"]) == 10_000


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
        _FUZZ_CLIENTS["client"] = as_call_centre(make_client(factory.mktemp("hotline-fuzz")))
    return _FUZZ_CLIENTS["client"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer nodot",
        "Bearer 0123456789ab.wrong-secret-wrong-secret",
        "Bearer \xff\xfe",
        "Bearer 话务系统.密钥密钥密钥密钥密钥密钥密钥密钥",
        "Bearer " + "a" * 5000,
    ],
)
def test_without_a_valid_credential_both_routes_answer_401(
    client: TestClient, authorization: str | None
) -> None:
    # As raw bytes: the header reaches intake however a client encodes it.
    headers = {} if authorization is None else {"Authorization": authorization.encode()}
    client.headers.pop("Authorization")
    single = client.post(
        "/api/v1/hotline/calls",
        content=json.dumps(call(urgency_hint="urgent")).encode(),
        headers={"content-type": "application/json", **headers},
    )
    batch = client.post(BATCH, content=jsonl([call(2)]), headers={**NDJSON, **headers})
    for reply in (single, batch):
        assert reply.status_code == 401, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "凭证" in reply.json()["detail"]
    assert outbox(client) == []


def test_malformed_json_without_a_credential_is_still_401(client: TestClient) -> None:
    client.headers.pop("Authorization")
    reply = client.post(
        "/api/v1/hotline/calls", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 401


def test_a_revoked_credential_is_refused_at_once(client: TestClient) -> None:
    assert client.post("/api/v1/hotline/calls", json=call(1)).status_code == 201
    with client.app.state.intake.sessions.begin() as session:  # type: ignore[attr-defined]
        assert revoke_credential(
            session=session, credential_id=credential_id(client), now=datetime.now(UTC)
        )
    assert client.post("/api/v1/hotline/calls", json=call(2)).status_code == 401


def test_the_longest_call_id_fits_the_event_with_the_centre_in_it(client: TestClient) -> None:
    assert client.post("/api/v1/hotline/calls", json=call(call_id="x" * 100)).status_code == 201
    (item,) = received(client)
    assert item.channel_ref == f"{credential_id(client)}/{'x' * 100}"


def test_two_call_centres_may_use_the_same_call_ids(client: TestClient) -> None:
    other = {"Authorization": f"Bearer {add_call_centre(client, '另一个话务系统')}"}
    mine = client.post("/api/v1/hotline/calls", json=call(1, call_id="1"))
    theirs = client.post("/api/v1/hotline/calls", json=call(1, call_id="1"), headers=other)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["ticket_no"] != theirs.json()["ticket_no"]
    again = client.post("/api/v1/hotline/calls", json=call(1, call_id="1"))
    assert (again.status_code, again.json()["ticket_no"]) == (200, mine.json()["ticket_no"])


def test_a_call_centre_over_its_per_minute_limit_gets_429(tmp_path: Path) -> None:
    client = as_call_centre(make_client(tmp_path, hotline_calls_per_minute=5))
    report = client.post(BATCH, content=jsonl([call(n) for n in range(5)]), headers=NDJSON)
    assert report.json()["accepted"] == 5
    refused = client.post("/api/v1/hotline/calls", json=call(9))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert "每分钟最多提交 5 个通话" in refused.json()["detail"]
    assert client.post(BATCH, content=jsonl([call(10)]), headers=NDJSON).status_code == 429
    # Another centre has a limit of its own.
    as_call_centre(client)
    assert client.post("/api/v1/hotline/calls", json=call(9)).status_code == 201


def test_a_line_over_the_cap_stops_the_batch_with_422(tmp_path: Path) -> None:
    client = as_call_centre(make_client(tmp_path, hotline_max_line_bytes=4096))
    long = json.dumps(call(2, agent_summary="长" * 1500), ensure_ascii=False).encode()
    reply = client.post(BATCH, content=jsonl([call(1), long, call(3)]), headers=NDJSON)
    assert reply.status_code == 422
    report = reply.json()
    assert "第 2 行超过 4 KB" in report["detail"]
    assert [r["status"] for r in report["results"]] == ["accepted"]
    assert len(outbox(client)) == 1


def test_a_batch_is_split_into_lines_however_it_is_chunked() -> None:
    async def split(chunks: list[bytes]) -> list[tuple[int, bytes]]:
        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return [line async for line in _lines(stream(), max_line=8)]

    body = b"ab\n\ncdefgh\r\nij"
    expected = [(1, b"ab"), (2, b""), (3, b"cdefgh\r"), (4, b"ij")]
    for size in range(1, len(body) + 1):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        assert asyncio.run(split(chunks)) == expected
    with pytest.raises(LineTooLong) as too_long:
        asyncio.run(split([b"ok\n", b"12345", b"6789\n"]))
    assert too_long.value.number == 2


def test_a_long_line_is_refused_in_linear_time(client: TestClient) -> None:
    # Buffering by `pending += chunk; split` re-scanned the line for every chunk.
    started = time.perf_counter()
    reply = client.post(BATCH, content=b"x" * (16 * 1024 * 1024), headers=NDJSON)
    assert reply.status_code == 422
    assert time.perf_counter() - started < 5
