"""followup's ticket opening on real stores, a batch at a time: one transaction per batch, a
locked or lost store waited out by the loop (nothing dead-lettered for it), an event the store
cannot hold dead-lettered while the rest of its batch becomes tickets, replays applied once."""

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.events import DeadLetter, Envelope, FeedbackRouted, Location, decode, encode
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_ROUTED
from feedbackloop.runtime.batches import BatchLoop, Consumer, Record
from feedbackloop.runtime.producer import Output
from services.followup import flows
from services.followup.agents import CONSUMER, RoutedBatch, ticket_opening
from services.followup.database import open_store
from services.followup.metrics import Tally
from services.followup.models import Ticket
from services.followup.sla import DEFAULT_POLICIES, load_sla_book
from tests import factories
from tests.factories import KafkaRecord
from tests.integration.conftest import wait_for
from tests.runtime.test_batches import FakeConsumer, FakePublisher, until

DESK = flows.Desk(book=load_sla_book(DEFAULT_POLICIES), calendar=load_sla_book().calendar())
PARTITION = TopicPartition(FEEDBACK_ROUTED, 2)


def routed_event(address: str = "幸福小区3栋", *, ticket_no: str | None = None) -> Envelope[Any]:
    item = factories.received(
        "幸福小区3栋门口的路灯坏了一个星期",
        location=Location(address=address),
        ticket_no=ticket_no or f"26112210{abs(hash(address)) % 10**5:05d}",
    )
    return factories.routed(item)


def as_records(*events: Envelope[FeedbackRouted], first: int = 0) -> list[KafkaRecord]:
    return [
        KafkaRecord(FEEDBACK_ROUTED, 2, first + n, e.data.feedback.ticket_id.encode(), encode(e))
        for n, e in enumerate(events)
    ]


def ticket_exists(sessions: sessionmaker[Session], event: Envelope[FeedbackRouted]) -> bool:
    with sessions() as session:
        return session.get(Ticket, event.data.feedback.ticket_id) is not None


def letters(outputs: list[Output]) -> list[DeadLetter]:
    return [decode(o.value, expect=DeadLetter).data for o in outputs if o.topic == DEAD_LETTER]


class Opening:
    """The ticket-opening handler on a store, with its tally and relay wake-ups counted."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.tally = Tally()
        self.wakes = 0
        self.handler: RoutedBatch = ticket_opening(
            sessions=sessions, desk=DESK, wake_relay=self.wake, tally=self.tally
        )

    def wake(self) -> None:
        self.wakes += 1

    def apply(self, records: list[KafkaRecord]) -> list[Output]:
        batch: list[Record] = list(records)
        return self.handler.apply_batch(self.handler.prepare(batch))


def batch_loop(handler: RoutedBatch, records: list[KafkaRecord]) -> BatchLoop:
    """A batch loop of the handler over the records, on a fake consumer, quick to retry."""
    consumer = FakeConsumer({PARTITION: []})
    consumer.logs[PARTITION] = list(records)
    return BatchLoop(
        consumer=cast(Consumer, consumer),
        publisher=FakePublisher(),
        handlers={FEEDBACK_ROUTED: handler},
        fetch_timeout_ms=5,
        first_backoff=0.01,
        longest_backoff=0.05,
    )


def run_until_committed(loop: BatchLoop, records: list[KafkaRecord]) -> None:
    """Runs the loop until every record's offset is committed, then stops it."""
    consumer: Any = loop._consumer
    end = {PARTITION: records[-1].offset + 1}

    async def run() -> None:
        await loop.start()
        await until(lambda: consumer.committed == end, timeout=60)
        await loop.stop()

    asyncio.run(run())


def in_background(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], Path]]:
    path = tmp_path / "followup.db"
    open_store(f"sqlite:///{path}")  # migrated
    # A short busy timeout, so a locked file fails in milliseconds rather than after 30 s.
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    yield sessionmaker(engine, expire_on_commit=False), path
    engine.dispose()


def test_a_batch_of_routings_opens_its_tickets_in_one_transaction_and_wakes_the_relay_once(
    tmp_path: Path,
) -> None:
    sessions = open_store(f"sqlite:///{tmp_path / 'followup.db'}")
    events = [routed_event(f"幸福小区{n}栋") for n in range(5)]
    opening = Opening(sessions)

    assert opening.apply(as_records(*events)) == []

    assert all(ticket_exists(sessions, e) for e in events)
    assert opening.handler.status.transactions == 1
    assert opening.tally.applied == 5 and opening.wakes == 1


def test_a_locked_sqlite_store_is_waited_out_and_nothing_is_dead_lettered(
    sqlite_store: tuple[sessionmaker[Session], Path],
) -> None:
    sessions, path = sqlite_store
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing for a long while
    events = [routed_event(f"幸福小区{n}栋") for n in range(3)]
    opening = Opening(sessions)
    records = as_records(*events)
    loop = batch_loop(opening.handler, records)

    def release_after_three_failures() -> None:
        wait_for(lambda: loop.status.failures >= 3, timeout=30, what="three failed batches")
        holder.execute("ROLLBACK")

    releaser = in_background(release_after_three_failures)
    run_until_committed(loop, records)
    releaser.join()

    assert loop.status.failures >= 3 and "database is locked" in (loop.status.last_error or "")
    assert all(ticket_exists(sessions, e) for e in events)
    assert loop._publisher.sent == []  # type: ignore[attr-defined]  # nothing dead-lettered
    assert opening.tally.applied == 3  # the failed attempts counted nothing


def test_a_lost_postgresql_connection_is_waited_out_until_the_server_takes_connections_again(
    postgres: LocalPostgres, postgres_url: str
) -> None:
    sessions = open_store(postgres_url)
    database = make_url(postgres_url).database
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    events = [routed_event(f"幸福小区{n}栋") for n in range(3)]
    opening = Opening(sessions)
    records = as_records(*events)
    loop = batch_loop(opening.handler, records)
    with admin.connect() as conn:
        # The database goes away: its sessions are ended and new ones refused.
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
            {"db": database},
        )

        def come_back_after_three_failures() -> None:
            wait_for(lambda: loop.status.failures >= 3, timeout=30, what="three failed batches")
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))

        comer = in_background(come_back_after_three_failures)
        run_until_committed(loop, records)
        comer.join()
    admin.dispose()
    assert loop.status.failures >= 3
    assert all(ticket_exists(sessions, e) for e in events)
    assert loop._publisher.sent == []  # type: ignore[attr-defined]
    assert opening.tally.applied == 3


def test_a_nul_in_an_address_on_postgresql_is_dead_lettered_and_its_neighbours_apply(
    postgres_url: str,
) -> None:
    sessions = open_store(postgres_url)
    before, poisoned, after = (
        routed_event("幸福小区1栋"),
        routed_event("幸福小区\x003栋"),
        routed_event(),
    )
    opening = Opening(sessions)

    outputs = opening.apply(as_records(before, poisoned, after))

    (letter,) = letters(outputs)
    assert letter.consumer == CONSUMER and letter.key == poisoned.data.feedback.ticket_id
    assert (letter.topic, letter.partition, letter.offset) == (FEEDBACK_ROUTED, 2, 1)
    assert letter.error.startswith("DataError"), letter.error
    assert "NUL" in letter.error
    # The reason names the kind of error, not the statement's parameters (the citizen's text).
    assert "幸福小区" not in letter.error and "路灯" not in letter.error
    assert not ticket_exists(sessions, poisoned)
    assert ticket_exists(sessions, before) and ticket_exists(sessions, after)
    # The rolled-back batch transaction counted nothing; the two applied again did.
    assert opening.tally.applied == 2


def test_a_ticket_number_reused_for_another_ticket_is_dead_lettered_on_sqlite(
    tmp_path: Path,
) -> None:
    sessions = open_store(f"sqlite:///{tmp_path / 'followup.db'}")
    first = routed_event("幸福小区1栋", ticket_no="2611221000014")
    reused = routed_event("幸福小区2栋", ticket_no="2611221000014")
    third = routed_event("幸福小区3栋", ticket_no="2611221000022")
    opening = Opening(sessions)

    (letter,) = letters(opening.apply(as_records(first, reused, third)))

    assert letter.key == reused.data.feedback.ticket_id
    assert letter.error.startswith("IntegrityError"), letter.error
    assert ticket_exists(sessions, first) and ticket_exists(sessions, third)
    assert not ticket_exists(sessions, reused)
    assert opening.tally.applied == 2 and opening.handler.status.dead_lettered == 1


def test_a_record_that_is_no_routing_decision_is_dead_lettered(tmp_path: Path) -> None:
    sessions = open_store(f"sqlite:///{tmp_path / 'followup.db'}")
    good = routed_event()
    opening = Opening(sessions)
    records = as_records(good)
    records.append(KafkaRecord(FEEDBACK_ROUTED, 2, 1, b"k", b"not json"))

    (letter,) = letters(opening.apply(records))

    assert letter.error.startswith("InvalidEvent") and letter.offset == 1
    assert ticket_exists(sessions, good)


def test_a_replayed_event_applies_once(tmp_path: Path) -> None:
    sessions = open_store(f"sqlite:///{tmp_path / 'followup.db'}")
    event = routed_event()
    opening = Opening(sessions)

    assert opening.apply(as_records(event, event)) == []  # twice in one batch
    assert opening.apply(as_records(event)) == []  # and again after a restart

    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
    assert opening.tally.applied == 1
