"""SQL stores: engines with sane SQLite settings, and time-zone-aware timestamps."""

import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back time-zone aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware one")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_store(database_url: str, metadata: MetaData | None = None) -> sessionmaker[Session]:
    """An engine for the URL (SQLite file directories created), its tables, and sessions.

    Without `metadata` no tables are created: the caller migrates the schema itself.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if metadata is not None:
        with engine.begin() as connection:
            lock_schema(connection)
            metadata.create_all(connection)
    return sessionmaker(engine, expire_on_commit=False)


#: Key of the PostgreSQL advisory lock held while a schema is created or migrated.
_SCHEMA_LOCK = 0x66656564  # "feed"


def lock_schema(connection: Connection) -> None:
    """Make replicas starting together on one database create its schema in turn.

    Without it both see an empty database and both create the same tables (or Alembic's
    version table), and one fails. The lock ends with the connection's transaction.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
    elif connection.dialect.name == "sqlite":
        # SQLite's write lock, taken now rather than at the first CREATE: the checks for
        # existing tables before it would otherwise race.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def engine_of(factory: sessionmaker[Session]) -> Engine:
    """The engine behind a session factory."""
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


def write_guard(factory: sessionmaker[Session]) -> AbstractContextManager[object]:
    """A lock that serialises this process's write transactions on SQLite.

    SQLite admits one writer; without the lock, concurrent request threads wait in SQLite's
    busy handler, which sleeps in growing steps and turns contention into second-long tails.
    Other databases handle concurrent writers themselves.
    """
    return threading.Lock() if engine_of(factory).dialect.name == "sqlite" else nullcontext()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work while one writer commits; NORMAL survives process crashes
    # (a power cut may lose the last commits, which the outbox relay then never saw).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
