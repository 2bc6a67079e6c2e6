"""Group commit on real stores: shared transactions, answers only after the commit, and an
item's error for that item alone."""

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import String, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from feedbackloop.runtime.group_commit import GroupCommit
from feedbackloop.runtime.sql import create_store
from tests.integration.conftest import wait_for


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rows.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return create_store(url, Base.metadata)


def write_rows(session: Session, names: Sequence[str]) -> list[str]:
    if any(name == "boom" for name in names):
        raise ValueError("an item the writer refuses")
    session.execute(insert(Row), [{"name": name} for name in names])
    return [f"stored {name}" for name in names]


def stored(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.execute(select(Row.name)).scalars())


class Gate:
    """A guard the test holds shut, so items queue up behind the group being written."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Set once the committer waits at the gate with a group.
        self.reached = threading.Event()

    def __enter__(self) -> None:
        self.reached.set()
        self.lock.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.lock.release()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=40) as executor:
        yield executor


def queue_behind_gate(
    committer: GroupCommit[str, str],
    gate: Gate,
    pool: ThreadPoolExecutor,
    names: list[str],
    submit: Callable[[str], str] | None = None,
) -> list["Future[str]"]:
    """Submit the first name (held at the gate), then the rest, all queued, and open it."""
    call = submit or committer.submit
    gate.lock.acquire()
    first = pool.submit(call, names[0])
    assert gate.reached.wait(timeout=10)
    rest = [pool.submit(call, name) for name in names[1:]]
    wait_for(lambda: committer.pending == len(names) - 1, timeout=10, what="the queue")
    gate.lock.release()
    return [first, *rest]


def test_concurrent_items_share_transactions_and_return_once_committed(
    sessions: sessionmaker[Session], pool: ThreadPoolExecutor
) -> None:
    gate = Gate()
    committer = GroupCommit(sessions=sessions, write=write_rows, guard=gate)
    names = [f"item-{n}" for n in range(30)]

    def submit_and_look(name: str) -> str:
        result = committer.submit(name)
        # Another connection sees the row the moment the caller has its answer.
        assert name in stored(sessions)
        return result

    futures = queue_behind_gate(committer, gate, pool, names, submit_and_look)

    assert [future.result(timeout=30) for future in futures] == [f"stored {n}" for n in names]
    assert stored(sessions) == set(names)
    # The first item alone, then all that queued behind it in one transaction.
    assert committer.stats.transactions == 2
    assert committer.stats.largest_group == 29
    committer.close()


def test_a_failing_item_fails_alone_and_its_neighbours_commit(
    sessions: sessionmaker[Session], pool: ThreadPoolExecutor
) -> None:
    with sessions.begin() as session:
        session.add(Row(name="taken"))
    gate = Gate()
    committer = GroupCommit(sessions=sessions, write=write_rows, guard=gate)
    names = ["first", "a", "taken", "b", "boom", "c", "a"]

    futures = queue_behind_gate(committer, gate, pool, names)

    outcomes = [future.exception(timeout=30) or future.result() for future in futures]
    assert outcomes[0:2] == ["stored first", "stored a"]
    assert isinstance(outcomes[2], IntegrityError)  # the key was taken before
    assert outcomes[3] == "stored b"
    assert isinstance(outcomes[4], ValueError)
    assert outcomes[5] == "stored c"
    assert isinstance(outcomes[6], IntegrityError)  # "a" again, in the same group
    assert stored(sessions) == {"taken", "first", "a", "b", "c"}
    assert committer.stats.retried_groups == 1
    assert committer.stats.transactions == 2
    committer.close()


def test_groups_are_no_larger_than_max_items(
    sessions: sessionmaker[Session], pool: ThreadPoolExecutor
) -> None:
    gate = Gate()
    committer = GroupCommit(sessions=sessions, write=write_rows, guard=gate, max_items=4)
    names = [f"item-{n}" for n in range(11)]

    futures = queue_behind_gate(committer, gate, pool, names)

    assert all(future.result(timeout=30) for future in futures)
    assert committer.stats.largest_group == 4
    assert committer.stats.transactions == 1 + 3  # the first alone, then 4 + 4 + 2
    committer.close()


def test_coroutines_share_transactions_too(sessions: sessionmaker[Session]) -> None:
    committer = GroupCommit(sessions=sessions, write=write_rows)
    names = [f"item-{n}" for n in range(50)]

    async def submit_all() -> list[str]:
        async def one(name: str) -> str:
            result = await committer.asubmit(name)
            assert name in stored(sessions)
            return result

        return await asyncio.gather(*(one(name) for name in names))

    assert asyncio.run(submit_all()) == [f"stored {n}" for n in names]
    assert stored(sessions) == set(names)
    # All fifty were queued before the loop gave the committer's answers a turn.
    assert committer.stats.transactions < len(names)
    committer.close()


def test_an_item_alone_does_not_wait_for_company(
    sessions: sessionmaker[Session], pool: ThreadPoolExecutor
) -> None:
    # A group that waited the whole window for more would keep this caller a minute.
    committer = GroupCommit(sessions=sessions, write=write_rows, max_wait=60)
    assert pool.submit(committer.submit, "alone").result(timeout=20) == "stored alone"
    assert committer.stats.transactions == 1
    committer.close()


def test_a_group_with_company_waits_for_more_up_to_max_items(
    sessions: sessionmaker[Session], pool: ThreadPoolExecutor
) -> None:
    gate = Gate()
    committer = GroupCommit(
        sessions=sessions, write=write_rows, guard=gate, max_items=6, max_wait=60
    )
    names = [f"item-{n}" for n in range(4)]
    futures = queue_behind_gate(committer, gate, pool, names)
    # Three are queued: the next group waits for more, and goes as soon as it is full.
    late = [pool.submit(committer.submit, f"late-{n}") for n in range(3)]
    assert all(future.result(timeout=20) for future in futures + late)
    assert committer.stats.largest_group == 6
    committer.close()


def test_the_committer_survives_a_failing_transaction(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'rows.db'}", Base.metadata)
    broken = {"on": True}

    def write(session: Session, names: Sequence[str]) -> list[str]:
        if broken["on"]:
            raise OSError("disk gone")
        return write_rows(session, names)

    committer = GroupCommit(sessions=sessions, write=write)
    with pytest.raises(OSError, match="disk gone"):
        committer.submit("lost")
    broken["on"] = False
    assert committer.submit("kept") == "stored kept"
    assert stored(sessions) == {"kept"}
    committer.close()


def test_close_ends_the_thread_and_a_later_item_starts_it_again(tmp_path: Path) -> None:
    sessions = create_store(f"sqlite:///{tmp_path / 'rows.db'}", Base.metadata)
    committer = GroupCommit(sessions=sessions, write=write_rows, name="test-committer")
    committer.submit("one")
    committer.close()
    assert not any(t.name == "test-committer" for t in threading.enumerate())
    assert committer.submit("two") == "stored two"
    committer.close()
