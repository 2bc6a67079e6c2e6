"""The test suite's PostgreSQL: loopback only, stores work on it, one database per test."""

import socket
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
from sqlalchemy import TIMESTAMP, Column, Integer, MetaData, Table, insert, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.runtime.sql import UTCDateTime, create_store, engine_of

metadata = MetaData()
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)

SHANGHAI = timezone(timedelta(hours=8))


def tcp_listeners(port: int) -> set[str]:
    """The addresses on which some socket of this network namespace listens on `port`."""
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, words))
    return found


def ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(events.c.id).order_by(events.c.id)))


def test_server_listens_on_loopback_only(postgres: LocalPostgres) -> None:
    assert tcp_listeners(postgres.port) == {"127.0.0.1"}
    with psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres") as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_utc_datetime_round_trips_through_a_store(postgres_url: str) -> None:
    sessions = create_store(postgres_url, metadata)
    engine = engine_of(sessions)
    try:
        assert engine.dialect.name == "postgresql"
        column = next(c for c in inspect(engine).get_columns("events") if c["name"] == "at")
        assert isinstance(column["type"], TIMESTAMP)
        assert column["type"].timezone, "stored without its time zone"

        at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=SHANGHAI)
        with sessions.begin() as session:
            session.execute(insert(events).values(id=1, at=at))
        # A session in another time zone reads the same instant, handed back in UTC.
        with sessions() as session:
            session.execute(text("SET TIME ZONE 'America/New_York'"))
            stored = session.execute(select(events.c.at)).scalar_one()
        assert stored == at
        assert stored.tzinfo is UTC
        assert (stored.hour, stored.microsecond) == (1, 123456)
    finally:
        engine.dispose()


def test_databases_are_isolated(postgres: LocalPostgres, postgres_url: str) -> None:
    other_url = postgres.create_database(f"other_{uuid.uuid4().hex[:8]}")
    assert other_url != postgres_url
    first = create_store(postgres_url, metadata)
    try:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        with first.begin() as session:
            session.execute(insert(events).values(id=1, at=at))

        second = create_store(other_url, MetaData())
        try:
            # The other database does not see the first one's table ...
            assert inspect(engine_of(second)).get_table_names() == []
            # ... nor its rows once it has the same table.
            metadata.create_all(engine_of(second))
            with second.begin() as session:
                session.execute(insert(events).values([{"id": 7, "at": at}, {"id": 8, "at": at}]))
            assert ids(first) == [1]
            assert ids(second) == [7, 8]
        finally:
            engine_of(second).dispose()
    finally:
        engine_of(first).dispose()
