"""The outbox relay's housekeeping: sent rows pruned after the retention, refused ones kept."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import event, select
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_RECEIVED
from feedbackloop.runtime.outbox import (
    REFUSED_PREFIX,
    OutboxColumns,
    OutboxRelay,
    refused_for_good,
)
from feedbackloop.runtime.outbox_refusals import MAX_RECORD_BYTES
from feedbackloop.runtime.sql import create_store
from feedbackloop.runtime.topics import create_topics
from tests.integration.conftest import wait_for

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Outbox(OutboxColumns, Base):
    pass


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outbox.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return create_store(url, Base.metadata)


def add(
    sessions: sessionmaker[Session],
    *,
    sent: datetime | None,
    topic: str = FEEDBACK_RECEIVED,
    event_id: str | None = None,
    payload: bytes = b"{}",
) -> str:
    event_id = event_id or str(uuid.uuid4())
    with sessions.begin() as session:
        session.add(
            Outbox(
                event_id=event_id,
                topic=topic,
                key="t",
                payload=payload,
                created_at=NOW,
                sent_at=sent,
            )
        )
    return event_id


def unsent(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        query = select(Outbox.event_id).where(Outbox.sent_at.is_(None))
        return set(session.execute(query).scalars())


def event_ids(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.execute(select(Outbox.event_id)).scalars())


def relay(sessions: sessionmaker[Session], **options: object) -> OutboxRelay:
    # Port 1: nothing listens there; these tests never need the broker.
    return OutboxRelay(
        sessions=sessions, table=Outbox, bootstrap="127.0.0.1:1", client_id="test", **options
    )  # type: ignore[arg-type]


def test_rows_sent_before_the_retention_are_pruned_and_the_rest_stay(
    sessions: sessionmaker[Session],
) -> None:
    old = add(sessions, sent=NOW - timedelta(days=8))
    recent = add(sessions, sent=NOW - timedelta(days=6))
    unsent = add(sessions, sent=None)
    # A row the broker refused for good, and its letter: the row is the payload's only copy.
    refused = add(sessions, sent=NOW - timedelta(days=30))
    letter = add(
        sessions,
        sent=NOW - timedelta(days=30),
        topic=DEAD_LETTER,
        event_id=REFUSED_PREFIX + refused,
    )
    other_letter = add(sessions, sent=NOW - timedelta(days=8), topic=DEAD_LETTER)

    pruned = relay(sessions, retention=timedelta(days=7)).prune(now=NOW)

    assert pruned == 2
    assert event_ids(sessions) == {recent, unsent, refused, letter}
    assert old not in event_ids(sessions) and other_letter not in event_ids(sessions)


def test_pruning_goes_through_more_rows_than_one_batch(sessions: sessionmaker[Session]) -> None:
    for _ in range(25):
        add(sessions, sent=NOW - timedelta(days=8))
    keep = add(sessions, sent=NOW)
    assert relay(sessions, batch_size=10).prune(now=NOW) == 25
    assert event_ids(sessions) == {keep}


def test_the_running_relay_prunes_on_its_own(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'outbox.db'}", Base.metadata)
    stale = add(sessions, sent=datetime.now(UTC) - timedelta(hours=2))
    fresh = add(sessions, sent=datetime.now(UTC))
    running = relay(sessions, retention=timedelta(hours=1), idle_seconds=0.05)
    running.start()
    try:
        wait_for(lambda: stale not in event_ids(sessions), timeout=10, what="the prune")
    finally:
        running.stop()
    assert event_ids(sessions) == {fresh}
    assert running.pruned == 1


@pytest.mark.parametrize(
    ("error", "for_good"),
    [
        (MessageSizeTooLargeError(), True),
        (KafkaTimeoutError(), False),
        (NotLeaderForPartitionError(), False),
        # Refused, but because of the set-up: rows wait until the ACLs are fixed.
        (TopicAuthorizationFailedError(), False),
        (None, False),
    ],
)
def test_only_errors_about_the_record_itself_dead_letter_it(
    error: Exception | None, for_good: bool
) -> None:
    assert refused_for_good(error) is for_good


def test_rows_no_broker_could_take_are_dead_lettered_without_one(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'outbox.db'}", Base.metadata)
    bad_name = add(sessions, sent=None, topic="no such topic!")
    huge = add(sessions, sent=None, payload=b"x" * (MAX_RECORD_BYTES + 1))
    running = relay(sessions, idle_seconds=0.05)
    running.start()
    letters = {REFUSED_PREFIX + bad_name, REFUSED_PREFIX + huge}
    try:
        # The refused rows are done; their letters wait for a broker like any event.
        wait_for(lambda: unsent(sessions) == letters, timeout=20, what="the dead letters")
    finally:
        running.stop()
    assert running.dead_lettered == 2 and running.published == 0


def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


@pytest.mark.integration
def test_a_backlog_is_published_in_batches_each_marked_sent_in_one_update(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    topic = f"test.relay.{uuid.uuid4().hex[:8]}"
    create_topics(kafka.bootstrap, [topic], partitions=3)
    sessions = create_store(f"sqlite:///{tmp_path / 'outbox.db'}", Base.metadata)
    rows = 1234
    with sessions.begin() as session:
        session.add_all(
            Outbox(
                event_id=str(uuid.uuid4()),
                topic=topic,
                key=f"ticket-{n % 50}",
                payload=b'{"n": %d}' % n,
                created_at=NOW,
            )
            for n in range(rows)
        )
    updates: list[str] = []

    def count_update(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE outbox SET sent_at"):
            updates.append(statement)

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", count_update)
    running = OutboxRelay(
        sessions=sessions,
        table=Outbox,
        bootstrap=kafka.bootstrap,
        client_id="test-relay",
        batch_size=500,
    )
    running.start()
    try:
        wait_for(lambda: not unsent(sessions), timeout=60, what="the backlog to be sent")
    finally:
        running.stop()
        event.remove(engine, "before_cursor_execute", count_update)
    assert running.published == rows
    assert len(updates) == -(-rows // 500)  # one UPDATE per batch of rows, not per row
    assert end_offsets(kafka.bootstrap, topic) == rows
