"""Engine and sessions for intake's store (SQLite by default, any SQLAlchemy URL)."""

import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from services.intake.models import Base


def create_store(database_url: str) -> sessionmaker[Session]:
    """Create the engine, the tables if missing, and a session factory."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)


def write_guard(factory: sessionmaker[Session]) -> AbstractContextManager[object]:
    """A lock that serialises this process's write transactions on SQLite.

    SQLite admits one writer; without the lock, concurrent request threads wait in SQLite's
    busy handler, which sleeps in growing steps and turns contention into second-long tails.
    Other databases handle concurrent writers themselves.
    """
    return threading.Lock() if engine_of(factory).dialect.name == "sqlite" else nullcontext()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the relay read while a request writes; NORMAL is durable across process crashes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def engine_of(factory: sessionmaker[Session]) -> Engine:
    """The engine behind a session factory."""
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind
