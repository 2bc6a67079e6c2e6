"""Binding a signed (timestamp, nonce) to one body, on SQLite and on a shared PostgreSQL."""

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.sql import write_guard
from services.intake.database import create_store
from services.intake.models import WeChatNonce
from services.intake.wechat_replay import KEEP_SECONDS, Replayed, bind_body

NOW = 1_800_000_000.0


@dataclass
class Store:
    """Intake's store and its write guard, as an intake process holds them."""

    sessions: sessionmaker[Session]
    guard: AbstractContextManager[object] = field(init=False)

    def __post_init__(self) -> None:
        self.guard = write_guard(self.sessions)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store(create_store(f"sqlite:///{tmp_path / 'intake.db'}"))
    return Store(create_store(request.getfixturevalue("postgres_url")))


def bind(store: Store, body: bytes, *, nonce: str = "n1", now: float = NOW) -> None:
    bind_body(
        sessions=store.sessions,
        write_guard=store.guard,
        timestamp=str(int(now)),
        nonce=nonce,
        body=body,
        now=now,
    )


def rows(store: Store) -> int:
    with store.sessions() as session:
        return int(session.execute(select(func.count()).select_from(WeChatNonce)).scalar_one())


def test_the_same_body_again_is_a_retry_and_another_body_is_refused(
    store: Store,
) -> None:
    bind(store, b"<xml>first</xml>")
    bind(store, b"<xml>first</xml>")
    with pytest.raises(Replayed):
        bind(store, b"<xml>second</xml>")
    # Another nonce under the same timestamp is another request.
    bind(store, b"<xml>second</xml>", nonce="n2")
    assert rows(store) == 2


def test_of_concurrent_different_bodies_exactly_one_is_bound(store: Store) -> None:
    bodies = [f"<xml>body {n}</xml>".encode() for n in range(8)]
    start = threading.Barrier(len(bodies))
    outcomes: dict[bytes, str] = {}

    def attempt(body: bytes) -> None:
        start.wait()
        try:
            bind(store, body, nonce="raced")
            outcomes[body] = "bound"
        except Replayed:
            outcomes[body] = "refused"

    threads = [threading.Thread(target=attempt, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["bound"] + ["refused"] * (len(bodies) - 1)
    (winner,) = [body for body, outcome in outcomes.items() if outcome == "bound"]
    bind(store, winner, nonce="raced")  # WeChat's retry of the winner still passes


def test_nonces_past_the_window_are_pruned(store: Store) -> None:
    bind(store, b"<xml>old</xml>", nonce="old", now=NOW)
    bind(store, b"<xml>new</xml>", nonce="new", now=NOW + KEEP_SECONDS - 1)
    assert rows(store) == 2
    bind(store, b"<xml>newer</xml>", nonce="newer", now=NOW + KEEP_SECONDS + 1)
    assert rows(store) == 2  # "old" is gone, "new" and "newer" stay
