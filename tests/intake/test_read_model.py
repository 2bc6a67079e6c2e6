"""The ticket-status read model: applying ticket.events, one transaction a batch, in the runtime's
consumer loop (a real `BatchLoop` over a log in memory; the real broker is in
tests/integration/test_wechat_progress.py)."""

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    DeadLetter,
    Priority,
    TicketEvent,
    TicketEventKind,
    TicketState,
    decode,
    encode,
    new_event,
)
from feedbackloop.events.topics import DEAD_LETTER, TICKET_EVENTS
from feedbackloop.runtime.batches import BatchLoop
from services.intake import service
from services.intake.database import create_store
from services.intake.models import TicketStatus
from services.intake.read_model import GROUP_ID, status_batch, status_feed
from tests import factories
from tests.metrics.memory_log import MemoryLog, Sent

TICKET_ID = str(uuid.uuid4())
OPENED_AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def ticket_event(
    state: TicketState,
    *,
    at: datetime,
    kind: TicketEventKind = TicketEventKind.OPENED,
    department: str | None = "市水务局",
    event_id: str | None = None,
    ticket_id: str = TICKET_ID,
    ticket_no: str = "2611221000014",
) -> bytes:
    """A ticket.events record value, as followup publishes it."""
    data = TicketEvent(
        ticket_id=ticket_id,
        ticket_no=ticket_no,
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
    return encode(new_event(data=data, source="/followup", subject=ticket_id, event_id=event_id))


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path / 'intake.db'}")


def status(
    sessions: sessionmaker[Session], ticket_no: str = "2611221000014"
) -> TicketStatus | None:
    with sessions() as session:
        return service.get_ticket_status(session=session, ticket_no=ticket_no)


def snapshot(sessions: sessionmaker[Session]) -> tuple[object, ...] | None:
    current = status(sessions)
    if current is None:
        return None
    return (current.state, current.department_name, current.updated_at, current.last_event_id)


def apply(sessions: sessionmaker[Session], value: bytes | None) -> bool:
    """Apply one record as a batch of its own; True if the stored status changed."""
    before = snapshot(sessions)
    handler = status_batch(sessions=sessions, write_guard=nullcontext())
    assert handler.apply_batch(handler.prepare(factories.records(value, topic=TICKET_EVENTS))) == []
    return snapshot(sessions) != before


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


def test_a_batch_is_applied_in_one_transaction_in_order(sessions: sessionmaker[Session]) -> None:
    opened = ticket_event(TicketState.ROUTED, at=OPENED_AT, event_id="evt-1")
    accepted = ticket_event(
        TicketState.ACCEPTED,
        at=OPENED_AT + timedelta(hours=1),
        kind=TicketEventKind.ACCEPTED,
        event_id="evt-2",
    )
    handler = status_batch(sessions=sessions, write_guard=nullcontext())
    batch = factories.records(opened, b"not an event", accepted, opened, topic=TICKET_EVENTS)
    assert handler.apply_batch(handler.prepare(batch)) == []
    current = status(sessions)
    assert current is not None
    assert (current.state, current.last_event_id) == ("accepted", "evt-2")
    assert (handler.status.transactions, handler.status.skipped) == (1, 1)


def test_an_event_the_store_refuses_is_dead_lettered_alone(sessions: sessionmaker[Session]) -> None:
    other = str(uuid.uuid4())
    handler = status_batch(sessions=sessions, write_guard=nullcontext())
    batch = factories.records(
        ticket_event(TicketState.ROUTED, at=OPENED_AT),
        # Another ticket under the same number: the unique ticket number refuses it.
        ticket_event(TicketState.ROUTED, at=OPENED_AT, ticket_id=other),
        ticket_event(TicketState.ROUTED, at=OPENED_AT, ticket_id=other, ticket_no="2611221000015"),
        topic=TICKET_EVENTS,
    )
    (letter,) = handler.apply_batch(handler.prepare(batch))
    assert letter.topic == DEAD_LETTER
    dead = decode(letter.value, expect=DeadLetter).data
    assert (dead.consumer, dead.topic, dead.offset) == (GROUP_ID, TICKET_EVENTS, 1)
    assert dead.error.startswith("IntegrityError")
    first, third = status(sessions), status(sessions, "2611221000015")
    assert first is not None and first.ticket_id == TICKET_ID
    assert third is not None and third.ticket_id == other


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


class StoreWatchingLog(MemoryLog):
    """A log that notes what the store held each time the loop committed offsets."""

    def __init__(self, sessions: sessionmaker[Session], values: list[bytes | None]) -> None:
        super().__init__({TopicPartition(TICKET_EVENTS, 0): values})
        self.sessions = sessions
        self.stored_at_commit: list[tuple[int, TicketStatus | None]] = []

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        assert offsets is not None
        self.stored_at_commit += [(end, status(self.sessions)) for end in offsets.values()]
        await super().commit(offsets)


async def follow(
    sessions: sessionmaker[Session], log: MemoryLog, guard: AbstractContextManager[object]
) -> BatchLoop:
    loop = BatchLoop(
        consumer=log,
        publisher=Sent(),
        handlers={TICKET_EVENTS: status_batch(sessions=sessions, write_guard=guard)},
        fetch_timeout_ms=5,
        first_backoff=0.01,
    )
    await loop.start()
    return loop


def test_offsets_are_committed_only_after_the_store_has_the_batch(
    sessions: sessionmaker[Session],
) -> None:
    log = StoreWatchingLog(sessions, [b"garbage", ticket_event(TicketState.ROUTED, at=OPENED_AT)])

    async def run() -> None:
        loop = await follow(sessions, log, nullcontext())
        try:
            await until(lambda: log.committed == {TopicPartition(TICKET_EVENTS, 0): 2})
        finally:
            await loop.stop(timeout=1)

    asyncio.run(run())
    end, stored = log.stored_at_commit[-1]
    assert end == 2 and stored is not None and stored.state == "routed"


class FailingOnce(AbstractContextManager[object]):
    """A write guard that fails the first write, as a locked database would; counts writes."""

    def __init__(self) -> None:
        self.entered = 0

    def __enter__(self) -> object:
        self.entered += 1
        if self.entered == 1:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_locked_store_leaves_offsets_uncommitted_and_the_batch_is_read_again(
    sessions: sessionmaker[Session],
) -> None:
    log = StoreWatchingLog(sessions, [ticket_event(TicketState.ROUTED, at=OPENED_AT)])
    guard = FailingOnce()

    async def run() -> BatchLoop:
        loop = await follow(sessions, log, guard)
        try:
            await until(lambda: log.committed == {TopicPartition(TICKET_EVENTS, 0): 1})
        finally:
            await loop.stop(timeout=1)
        return loop

    loop = asyncio.run(run())
    assert loop.status.failures == 1 and "database is locked" in (loop.status.last_error or "")
    assert guard.entered == 2  # the guard is held around each transaction
    assert [end for end, _ in log.stored_at_commit] == [1]
    current = status(sessions)
    assert current is not None and current.state == "routed"


def test_the_consumer_without_a_broker_starts_and_stops_cleanly(
    sessions: sessionmaker[Session],
) -> None:
    feed = status_feed(sessions=sessions, bootstrap="127.0.0.1:1", write_guard=nullcontext())

    async def run() -> None:
        await feed.start()
        await until(lambda: feed.waiting_for is not None, timeout=30)
        assert not feed.running and feed.health()["status"] == "starting"
        await asyncio.wait_for(feed.stop(), 10)

    asyncio.run(run())
    assert not feed.running
