"""followup's ticket-opening agent on real stores: a locked or lost store is waited for, an
event the store cannot hold is dead-lettered, and the next event is handled either way."""

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.events import DeadLetter, Location, decode, encode
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_ROUTED
from feedbackloop.runtime.streams import settle
from services.followup import flows
from services.followup.agents import CONSUMER, open_ticket
from services.followup.database import open_store
from services.followup.models import Ticket
from services.followup.sla import DEFAULT_POLICIES, load_sla_book
from tests import factories
from tests.integration.conftest import wait_for


@dataclass
class Message:
    topic: str = FEEDBACK_ROUTED
    partition: int = 2
    offset: int = 41

    @property
    def tp(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass
class Event:
    """What faust hands an agent: the raw key and value, and where they came from."""

    key: bytes
    value: bytes
    message: Message = field(default_factory=Message)


@dataclass
class Published:
    records: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def __call__(self, topic: str, key: str, value: bytes) -> None:
        self.records.append((topic, key, value))

    def letters(self) -> list[DeadLetter]:
        return [decode(v, expect=DeadLetter).data for t, _, v in self.records if t == DEAD_LETTER]


DESK = flows.Desk(book=load_sla_book(DEFAULT_POLICIES), calendar=load_sla_book().calendar())


def routed_event(address: str = "幸福小区3栋") -> Event:
    item = factories.received(
        "幸福小区3栋门口的路灯坏了一个星期",
        location=Location(address=address),
        ticket_no=f"26112210{abs(hash(address)) % 10**5:05d}",
    )
    return Event(key=item.data.ticket_id.encode(), value=encode(factories.routed(item)))


def ticket_exists(sessions: sessionmaker[Session], event: Event) -> bool:
    with sessions() as session:
        return session.get(Ticket, event.key.decode()) is not None


class Attempts:
    """open_ticket, counting how often it was tried."""

    def __init__(self, sessions: sessionmaker[Session], event: Event) -> None:
        self.count = 0
        self._sessions, self._event = sessions, event

    def __call__(self) -> bool:
        self.count += 1
        return open_ticket(sessions=self._sessions, desk=DESK, raw=self._event.value)


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


def test_a_locked_sqlite_store_is_retried_with_backoff_until_the_lock_goes(
    sqlite_store: tuple[sessionmaker[Session], Path],
) -> None:
    sessions, path = sqlite_store
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing for a long while
    event, published = routed_event(), Published()
    work = Attempts(sessions, event)

    def release_after_three_attempts() -> None:
        wait_for(lambda: work.count >= 3, timeout=20, what="three attempts")
        holder.execute("ROLLBACK")

    releaser = in_background(release_after_three_attempts)
    result = asyncio.run(settle(event, work, consumer=CONSUMER, publish=published))
    releaser.join()

    assert result is True
    assert work.count >= 3
    assert ticket_exists(sessions, event)
    assert published.records == []  # nothing dead-lettered


def test_a_store_locked_for_longer_than_the_retries_dead_letters_the_event(
    sqlite_store: tuple[sessionmaker[Session], Path],
) -> None:
    sessions, path = sqlite_store
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    event, published = routed_event(), Published()
    try:
        result = asyncio.run(
            settle(
                event,
                Attempts(sessions, event),
                consumer=CONSUMER,
                publish=published,
                retry_seconds=0.5,
            )
        )
    finally:
        holder.execute("ROLLBACK")
    assert result is None
    (letter,) = published.letters()
    assert letter.consumer == CONSUMER and letter.key == event.key.decode()
    assert (letter.topic, letter.partition, letter.offset) == (FEEDBACK_ROUTED, 2, 41)
    assert letter.error.startswith("OperationalError (OperationalError): database is locked")


def test_a_lost_postgresql_connection_is_retried_until_the_server_takes_connections_again(
    postgres: LocalPostgres, postgres_url: str
) -> None:
    sessions = open_store(postgres_url)
    database = make_url(postgres_url).database
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    event, published = routed_event(), Published()
    work = Attempts(sessions, event)
    with admin.connect() as conn:
        # The database goes away: its sessions are ended and new ones refused.
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
            {"db": database},
        )

        def come_back_after_three_attempts() -> None:
            wait_for(lambda: work.count >= 3, timeout=20, what="three attempts")
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))

        comer = in_background(come_back_after_three_attempts)
        result = asyncio.run(settle(event, work, consumer=CONSUMER, publish=published))
        comer.join()
    admin.dispose()
    assert result is True and work.count >= 3
    assert ticket_exists(sessions, event)
    assert published.records == []


def test_a_nul_in_an_address_on_postgresql_is_dead_lettered_and_the_next_event_applies(
    postgres_url: str,
) -> None:
    sessions = open_store(postgres_url)
    poisoned, good, published = routed_event("幸福小区\x003栋"), routed_event(), Published()

    first = asyncio.run(
        settle(poisoned, Attempts(sessions, poisoned), consumer=CONSUMER, publish=published)
    )
    second = asyncio.run(
        settle(good, Attempts(sessions, good), consumer=CONSUMER, publish=published)
    )

    assert first is None and second is True
    (letter,) = published.letters()
    assert letter.key == poisoned.key.decode()
    assert letter.error.startswith("DataError"), letter.error
    assert "NUL" in letter.error
    # The reason names the kind of error, not the statement's parameters (the citizen's text).
    assert "幸福小区" not in letter.error and "路灯" not in letter.error
    assert not ticket_exists(sessions, poisoned) and ticket_exists(sessions, good)


def test_a_replayed_event_applies_once(tmp_path: Path) -> None:
    sessions = open_store(f"sqlite:///{tmp_path / 'followup.db'}")
    event, published = routed_event(), Published()
    results = [
        asyncio.run(settle(event, Attempts(sessions, event), consumer=CONSUMER, publish=published))
        for _ in range(2)
    ]
    assert results == [True, False]
    assert published.records == []
