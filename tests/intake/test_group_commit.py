"""Intake's commit path on real stores: concurrent requests share transactions, each is
committed before its 201, a request that loses a race gets its own answer, and a hotline
batch is stored one transaction per chunk."""

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text

from feedbackloop.runtime.sql import engine_of
from services.intake.app import create_app
from services.intake.channels.hotline import CHUNK
from services.intake.config import Settings
from services.intake.credentials import Kind, create_credential
from services.intake.deps import Intake
from services.intake.models import OutboxMessage, Submission
from tests.integration.conftest import wait_for

BODY = {"title": "路灯不亮", "text": "幸福小区3号楼门口的路灯坏了一个月，晚上出行很不安全。"}


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'intake.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    settings = Settings(
        database_url=url, kafka_bootstrap="127.0.0.1:1", rate_limit_per_minute=100_000
    )
    # No `with`: the relay (and Kafka) stay out of it; the committer needs no lifespan.
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    yield client
    intake_of(client).committer.close()


def intake_of(client: TestClient) -> Intake:
    intake: Intake = client.app.state.intake  # type: ignore[attr-defined]
    return intake


@contextmanager
def store_held(intake: Intake) -> Iterator[None]:
    """Keep intake's writer from committing: its requests queue up until the block ends."""
    if engine_of(intake.sessions).dialect.name == "sqlite":
        with intake.write_guard:  # the lock every SQLite writer of the process takes
            yield
        return
    with engine_of(intake.sessions).connect() as connection, connection.begin():
        connection.execute(text("LOCK TABLE ticket_counters IN EXCLUSIVE MODE"))
        yield


def stored_ticket(intake: Intake, ticket_no: str) -> bool:
    with intake.sessions() as session:
        query = select(Submission.ticket_no).where(Submission.ticket_no == ticket_no)
        return session.execute(query).scalar_one_or_none() is not None


def post_and_look(client: TestClient, key: str | None) -> tuple[int, str, bool]:
    """Post an item; its status, ticket and whether the store held it at the answer."""
    headers = {"Idempotency-Key": key} if key else {}
    reply = client.post("/api/v1/feedback", json=BODY, headers=headers)
    ticket_no = reply.json().get("ticket_no", "")
    return reply.status_code, ticket_no, stored_ticket(intake_of(client), ticket_no)


def test_concurrent_requests_share_transactions_each_committed_before_its_answer(
    client: TestClient,
) -> None:
    intake = intake_of(client)
    requests = 24
    with ThreadPoolExecutor(max_workers=requests) as pool, store_held(intake):
        futures = [pool.submit(post_and_look, client, None) for _ in range(requests)]
        wait_for(lambda: intake.committer.waiting == requests, timeout=30, what="the queue")
    answers = [future.result(timeout=60) for future in futures]

    assert {status for status, _ticket, _held in answers} == {201}
    assert all(held for _status, _ticket, held in answers)
    assert len({ticket for _status, ticket, _held in answers}) == requests
    assert 1 <= intake.committer.stats.transactions < requests
    with intake.sessions() as session:
        assert len(session.execute(select(OutboxMessage.id)).all()) == requests


def test_a_request_that_loses_a_race_gets_its_own_answer_and_the_others_commit(
    client: TestClient,
) -> None:
    intake = intake_of(client)
    keys = [f"key-{n}" for n in range(10)] + ["raced", "raced"]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool, store_held(intake):
        futures = [pool.submit(post_and_look, client, key) for key in keys]
        # Every request passed the look-up for its key before any of them committed.
        wait_for(lambda: intake.committer.waiting == len(keys), timeout=30, what="the queue")
    answers = [future.result(timeout=60) for future in futures]

    assert {status for status, _ticket, _held in answers} == {201}
    assert all(held for _status, _ticket, held in answers)
    tickets = [ticket for _status, ticket, _held in answers]
    assert tickets[-1] == tickets[-2]  # the loser is told the winner's ticket
    assert len(set(tickets)) == len(keys) - 1
    assert intake.committer.stats.retried_groups == 1
    with intake.sessions() as session:
        assert len(session.execute(select(Submission.ticket_id)).all()) == len(keys) - 1


def test_a_hotline_batch_commits_one_transaction_per_chunk(client: TestClient) -> None:
    intake = intake_of(client)
    with intake.sessions.begin() as session:
        token = create_credential(
            session=session, kind=Kind.HOTLINE, name="话务中心", now=datetime.now(UTC)
        )
    calls = 3 * CHUNK + 7
    lines = [json.dumps(call(n), ensure_ascii=False) for n in range(calls)]
    commits: list[int] = []
    engine = engine_of(intake.sessions)
    inserts: list[str] = []

    def count_commit(_connection: Any) -> None:
        commits.append(1)

    def count_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO submissions"):
            inserts.append(statement)

    event.listen(engine, "commit", count_commit)
    event.listen(engine, "before_cursor_execute", count_insert)
    try:
        reply = client.post(
            "/api/v1/hotline/calls:batch",
            content="\n".join(lines).encode(),
            headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"},
        )
    finally:
        event.remove(engine, "commit", count_commit)
        event.remove(engine, "before_cursor_execute", count_insert)

    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] == calls
    chunks = -(-calls // CHUNK)
    assert len(inserts) == chunks  # one multi-row INSERT per chunk, not one per line
    assert len(commits) == chunks
    with intake.sessions() as session:
        assert len(session.execute(select(Submission.ticket_id)).all()) == calls


def call(n: int) -> dict[str, Any]:
    return {
        "call_id": f"c-{n}",
        "caller_number": "13812345678",
        "started_at": "2026-12-03T08:00:00+08:00",
        "ended_at": "2026-12-03T08:03:00+08:00",
        "agent_id": "a1",
        "turns": [{"speaker": "caller", "text": "小区门口路灯坏了", "start_ms": 0, "end_ms": 900}],
    }
