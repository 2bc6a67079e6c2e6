"""The ticket-status read model: applying ticket.events, and the consumer thread around it."""

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    Priority,
    TicketEvent,
    TicketEventKind,
    TicketState,
    encode,
    new_event,
)
from services.intake import service
from services.intake.database import create_store
from services.intake.models import TicketStatus
from services.intake.read_model import TicketStatusFeed, apply_record
from tests import factories

TICKET_ID = str(uuid.uuid4())
OPENED_AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def ticket_event(
    state: TicketState,
    *,
    at: datetime,
    kind: TicketEventKind = TicketEventKind.OPENED,
    department: str | None = "市水务局",
    event_id: str | None = None,
) -> bytes:
    """A ticket.events record value, as followup publishes it."""
    data = TicketEvent(
        ticket_id=TICKET_ID,
        ticket_no="2611221000014",
        kind=kind,
        state_to=state,
        department_code="water",
        department_name=department,
        priority=Priority.NORMAL,
        actor="system",
        due_at=OPENED_AT + timedelta(days=9),
        received_at=OPENED_AT,
        occurred_at=at,
    )
    return encode(new_event(data=data, source="/followup", subject=TICKET_ID, event_id=event_id))


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path / 'intake.db'}")


def apply(sessions: sessionmaker[Session], value: bytes | None) -> bool:
    return apply_record(sessions=sessions, write_guard=nullcontext(), value=value)


def status(sessions: sessionmaker[Session]) -> TicketStatus | None:
    with sessions() as session:
        return service.get_ticket_status(session=session, ticket_no="2611221000014")


def test_an_event_creates_the_tickets_status(sessions: sessionmaker[Session]) -> None:
    assert apply(sessions, ticket_event(TicketState.ROUTED, at=OPENED_AT))
    current = status(sessions)
    assert current is not None
    assert (current.state, current.department_name) == ("routed", "市水务局")
    assert current.due_at == OPENED_AT + timedelta(days=9)


def test_a_newer_event_moves_the_state_on(sessions: sessionmaker[Session]) -> None:
    apply(sessions, ticket_event(TicketState.ROUTED, at=OPENED_AT))
    later = ticket_event(
        TicketState.ACCEPTED, at=OPENED_AT + timedelta(hours=1), kind=TicketEventKind.ACCEPTED
    )
    assert apply(sessions, later)
    current = status(sessions)
    assert current is not None and current.state == "accepted"


def test_an_older_event_arriving_late_does_not_overwrite_a_newer_one(
    sessions: sessionmaker[Session],
) -> None:
    newer = ticket_event(
        TicketState.ACCEPTED, at=OPENED_AT + timedelta(hours=1), kind=TicketEventKind.ACCEPTED
    )
    assert apply(sessions, newer)
    assert not apply(sessions, ticket_event(TicketState.ROUTED, at=OPENED_AT))
    current = status(sessions)
    assert current is not None and current.state == "accepted"


def test_the_same_event_twice_is_a_no_op(sessions: sessionmaker[Session]) -> None:
    value = ticket_event(TicketState.ROUTED, at=OPENED_AT, event_id="evt-1")
    assert apply(sessions, value)
    assert not apply(sessions, value)
    current = status(sessions)
    assert current is not None and current.last_event_id == "evt-1"


def test_a_later_event_without_a_department_name_keeps_the_known_one(
    sessions: sessionmaker[Session],
) -> None:
    apply(sessions, ticket_event(TicketState.ROUTED, at=OPENED_AT))
    apply(
        sessions,
        ticket_event(
            TicketState.ROUTED,
            at=OPENED_AT + timedelta(hours=2),
            kind=TicketEventKind.WARNED,
            department=None,
        ),
    )
    current = status(sessions)
    assert current is not None and current.department_name == "市水务局"


@pytest.mark.parametrize(
    "value",
    [None, b"", b"\x00 not json", b"[]", b'{"type": "x"}', encode(factories.received())],
    ids=["tombstone", "empty", "garbage", "array", "unknown-type", "other-event-type"],
)
def test_undecodable_records_are_skipped_without_crashing(
    sessions: sessionmaker[Session], value: bytes | None
) -> None:
    assert not apply(sessions, value)
    assert status(sessions) is None


class FakeConsumer:
    """Hands out prepared batches once each; records what the feed does with it."""

    def __init__(self, batches: list[list[bytes | None]], on_commit: Any = None) -> None:
        self.batches = [
            {"tp": [SimpleNamespace(value=value) for value in batch]} for batch in batches
        ]
        self.on_commit = on_commit
        self.commits = 0
        self.closed = threading.Event()

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        if self.batches:
            return self.batches.pop(0)
        self.closed.wait(timeout_ms / 1000)
        return {}

    def commit(self) -> None:
        if self.on_commit is not None:
            self.on_commit()
        self.commits += 1

    def close(self, autocommit: bool = True) -> None:
        assert autocommit is False
        self.closed.set()


def wait_until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def feeds() -> Iterator[list[TicketStatusFeed]]:
    started: list[TicketStatusFeed] = []
    yield started
    for feed in started:
        feed.stop()


def test_the_feed_survives_a_broker_that_is_down_at_start_and_commits_after_the_store(
    sessions: sessionmaker[Session], feeds: list[TicketStatusFeed]
) -> None:
    stored_at_commit: list[TicketStatus | None] = []
    consumer = FakeConsumer(
        [[b"garbage", ticket_event(TicketState.ROUTED, at=OPENED_AT)]],
        on_commit=lambda: stored_at_commit.append(status(sessions)),
    )
    attempts: list[int] = []

    def connect() -> FakeConsumer:
        attempts.append(1)
        if len(attempts) < 3:
            raise KafkaTimeoutError("Unable to bootstrap")
        return consumer

    feed = TicketStatusFeed(
        sessions=sessions,
        bootstrap="127.0.0.1:1",
        write_guard=nullcontext(),
        connect=connect,
        poll_timeout_ms=20,
        max_backoff=0.05,
    )
    feeds.append(feed)
    feed.start()
    wait_until(lambda: consumer.commits == 1)
    assert len(attempts) == 3
    assert stored_at_commit[0] is not None and stored_at_commit[0].state == "routed"
    assert feed.applied == 1 and feed.connected
    feed.stop()
    assert not feed.running
    assert consumer.closed.is_set()


class FailingOnce(AbstractContextManager[object]):
    """A write guard that fails the first write, as a locked database would."""

    def __init__(self) -> None:
        self.failed = False

    def __enter__(self) -> object:
        if not self.failed:
            self.failed = True
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_store_failure_leaves_offsets_uncommitted_and_the_batch_is_read_again(
    sessions: sessionmaker[Session], feeds: list[TicketStatusFeed]
) -> None:
    value = ticket_event(TicketState.ROUTED, at=OPENED_AT)
    first, second = FakeConsumer([[value]]), FakeConsumer([[value]])
    consumers = iter([first, second])
    feed = TicketStatusFeed(
        sessions=sessions,
        bootstrap="127.0.0.1:1",
        write_guard=FailingOnce(),
        connect=lambda: next(consumers),
        poll_timeout_ms=20,
        max_backoff=0.05,
    )
    feeds.append(feed)
    feed.start()
    wait_until(lambda: second.commits == 1)
    assert first.commits == 0 and first.closed.is_set()
    current = status(sessions)
    assert current is not None and current.state == "routed"


def test_a_real_consumer_without_a_broker_starts_and_stops_cleanly(
    sessions: sessionmaker[Session],
) -> None:
    feed = TicketStatusFeed(sessions=sessions, bootstrap="127.0.0.1:1", write_guard=nullcontext())
    feed.start()
    assert feed.running
    feed.stop(timeout=10)
    assert not feed.running
    assert not feed.connected
