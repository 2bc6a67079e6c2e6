"""StoreBatch on a real SQLite store: one transaction per batch with the event-id check inside
it, a poison event dead-lettered while its neighbours commit, a locked store re-raised (the
loop waits and reads again), bad records dead-lettered or skipped."""

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from feedbackloop.events import DeadLetter, InvalidEvent, decode
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.batches import Record
from feedbackloop.runtime.producer import Output
from feedbackloop.runtime.store_batches import StoreBatch, transient_store_error
from tests.factories import KafkaRecord


class Base(DeclarativeBase):
    pass


class Seen(Base):
    """Event ids applied (the consumers' de-duplication)."""

    __tablename__ = "seen"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Row(Base):
    """What an event makes; `name` is unique, so a second event with a name fails for good."""

    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


def decode_json(value: bytes | None) -> dict[str, str]:
    try:
        data = json.loads(value or b"")
    except ValueError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("not an object")
    return data


def apply(session: Session, data: dict[str, str]) -> Sequence[Output] | None:
    if session.get(Seen, data["id"]) is not None:
        return None  # a replay
    session.add(Seen(event_id=data["id"]))
    session.add(Row(name=data["name"]))
    session.flush()
    return [Output("made", data["id"], data["name"].encode())]


def records(*events: dict[str, str] | bytes) -> list[KafkaRecord]:
    return [
        KafkaRecord("in", 0, n, b"k", e if isinstance(e, bytes) else json.dumps(e).encode())
        for n, e in enumerate(events)
    ]


def letters(outputs: list[Output]) -> list[DeadLetter]:
    return [decode(o.value, expect=DeadLetter).data for o in outputs if o.topic == DEAD_LETTER]


class Store:
    """A SQLite file with the two tables, counting the transactions that began."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A short busy timeout: a locked file fails in milliseconds.
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
        Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.began = 0
        event.listen(self.sessions, "after_begin", self._count)

    def _count(self, *_args: Any) -> None:
        self.began += 1

    def names(self) -> list[str]:
        with self.sessions() as session:
            return list(session.execute(select(Row.name).order_by(Row.id)).scalars())

    def count(self, model: type[Base]) -> int:
        with self.sessions() as session:
            return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "store.db")
    yield made
    made.engine.dispose()


def batch(store: Store, **options: Any) -> tuple[StoreBatch[dict[str, str]], list[int]]:
    committed: list[int] = []
    handler = StoreBatch(
        consumer="test-consumer",
        sessions=store.sessions,
        decode=decode_json,
        apply=apply,
        after_commit=committed.append,
        **options,
    )
    return handler, committed


def run(handler: StoreBatch[dict[str, str]], recs: list[KafkaRecord]) -> list[Output]:
    batch: list[Record] = list(recs)
    return handler.apply_batch(handler.prepare(batch))


def test_a_batch_is_applied_in_one_transaction_and_replays_change_nothing(store: Store) -> None:
    handler, committed = batch(store)
    events = [{"id": f"e{n}", "name": f"n{n}"} for n in range(5)]

    outputs = run(handler, records(*events, events[1]))  # e1 twice within the batch
    again = run(handler, records(*events))  # the whole batch replayed after a crash
    began = store.began

    assert [o.value for o in outputs] == [b"n0", b"n1", b"n2", b"n3", b"n4"]
    assert again == []
    assert store.names() == ["n0", "n1", "n2", "n3", "n4"]
    assert began == 2 and handler.status.transactions == 2
    assert committed == [6, 5]


def test_a_poison_event_is_dead_lettered_and_its_neighbours_commit(store: Store) -> None:
    handler, committed = batch(store)
    events = [
        {"id": "a", "name": "same"},
        {"id": "b", "name": "same"},  # unique name taken: fails for good
        {"id": "c", "name": "other"},
    ]

    outputs = run(handler, records(*events))

    (letter,) = letters(outputs)
    assert letter.consumer == "test-consumer" and letter.offset == 1
    assert letter.error.startswith("IntegrityError (IntegrityError): UNIQUE constraint failed")
    assert "same" not in letter.error  # the statement's parameters are not quoted
    assert [o.value for o in outputs if o.topic == "made"] == [b"same", b"other"]
    assert store.names() == ["same", "other"]
    # The batch's transaction rolled back; its events were applied again one at a time.
    assert store.count(Seen) == 2 and handler.status.dead_lettered == 1
    assert handler.status.transactions == 2 and committed == [2]


def test_a_locked_store_is_re_raised_and_nothing_is_dead_lettered(store: Store) -> None:
    handler, committed = batch(store)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OperationalError, match="database is locked") as raised:
            run(handler, records({"id": "a", "name": "a"}))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert transient_store_error(raised.value)
    assert handler.status.dead_lettered == 0 and committed == []
    # Read again once the lock is gone, the batch applies.
    assert [o.value for o in run(handler, records({"id": "a", "name": "a"}))] == [b"a"]


def test_a_store_locked_while_events_are_applied_one_at_a_time_is_re_raised(
    store: Store,
) -> None:
    locked = {"now": False}

    def apply_then_lock(session: Session, data: dict[str, str]) -> Sequence[Output] | None:
        if data["id"] == "b":
            locked["now"] = True
            raise IntegrityError("INSERT", {}, Exception("conflict"))
        if locked["now"]:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return apply(session, data)

    handler = StoreBatch(
        consumer="test-consumer", sessions=store.sessions, decode=decode_json, apply=apply_then_lock
    )
    with pytest.raises(OperationalError):
        run(handler, records({"id": "a", "name": "a"}, {"id": "b", "name": "b"}))
    # Nothing parked for a store that was away: the loop reads the batch again.
    assert handler.status.dead_lettered == 0


def test_bad_records_are_dead_lettered_or_skipped(store: Store) -> None:
    parked, _ = batch(store)
    skipping, _ = batch(store, dead_letter_invalid=False)
    recs = records(b"not json", {"id": "a", "name": "a"})

    (letter,) = letters(run(parked, recs))
    assert letter.error.startswith("InvalidEvent") and letter.offset == 0
    assert letters(run(skipping, recs)) == [] and skipping.status.skipped == 1
    assert store.names() == ["a"]


def test_a_write_guard_is_held_around_each_transaction(store: Store) -> None:
    held: list[str] = []

    class Guard:
        def __enter__(self) -> None:
            held.append("enter")

        def __exit__(self, *_exc: object) -> None:
            held.append("exit")

    handler, _ = batch(store, write_guard=Guard())
    run(handler, records({"id": "a", "name": "x"}, {"id": "b", "name": "x"}))
    # The batch's transaction, then one per event after the conflict.
    assert held == ["enter", "exit"] * 3
