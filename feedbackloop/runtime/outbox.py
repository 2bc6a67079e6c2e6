"""The outbox relay: publishes committed events to Kafka and marks them sent once acknowledged.

A service writes each event into its outbox table in the same transaction as the change the
event describes; this relay moves the rows to Kafka, so an event is published if and only if
its change was committed (at least once: consumers drop copies by event id).

It runs in its own thread with a synchronous kafka-python producer (acks=all, idempotent).
A request handler wakes it after committing, so the usual path has no polling delay; the
idle timeout only picks up rows left over from a previous run or an outage.
"""

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Index, Integer, LargeBinary, String, select, update
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, sessionmaker

from feedbackloop.runtime.sql import UTCDateTime

log = logging.getLogger(__name__)


class OutboxColumns:
    """The outbox table's columns: mix into a service's declarative base, e.g.
    `class OutboxMessage(OutboxColumns, Base)`."""

    __tablename__ = "outbox"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index]:
        # A fresh Index per table: one Index object cannot belong to two tables.
        return (Index("ix_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(249))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class OutboxRelay:
    """Moves outbox rows to Kafka, at least once, in commit order."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        table: type[OutboxColumns],
        bootstrap: str,
        client_id: str,
        batch_size: int = 500,
        idle_seconds: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._table: type[OutboxColumns] = table
        self._client_id = client_id
        self._bootstrap = bootstrap
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: KafkaProducer | None = None
        self.published = 0
        self.broker_available = False

    def start(self) -> None:
        """Start publishing in the background (again after a stop)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tell the relay that new rows were committed."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in flight; unsent rows stay in the outbox for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                sent = self._publish_batch()
                backoff = 0.2
            except KafkaError as exc:
                self.broker_available = False
                log.warning("Kafka unavailable, items stay in the outbox: %s", exc)
                self._close_producer()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:
                log.exception("outbox relay failed; retrying")
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent < self._batch_size:
                self._wake.wait(self._idle_seconds)
                self._wake.clear()
        self._close_producer()

    def _publish_batch(self) -> int:
        table = self._table
        with self._sessions() as session:
            stmt = select(table).where(table.sent_at.is_(None)).order_by(table.id)
            rows: list[Any] = list(session.execute(stmt.limit(self._batch_size)).scalars())
        if not rows:
            return 0
        producer = self._get_producer()
        futures = [
            (row.id, producer.send(row.topic, key=row.key.encode(), value=row.payload))
            for row in rows
        ]
        producer.flush(timeout=30)
        acknowledged = [row_id for row_id, future in futures if future.succeeded()]
        if acknowledged:
            with self._sessions.begin() as session:
                session.execute(
                    update(table)
                    .where(table.id.in_(acknowledged))
                    .values(sent_at=datetime.now(UTC))
                )
        self.published += len(acknowledged)
        self.broker_available = True
        failed = [future.exception for _, future in futures if future.failed()]
        if failed or len(acknowledged) < len(futures):
            raise (
                failed[0]
                if failed and isinstance(failed[0], KafkaError)
                else KafkaError(
                    f"{len(futures) - len(acknowledged)} of {len(futures)} items not acknowledged"
                )
            )
        return len(rows)

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                max_block_ms=5000,
                request_timeout_ms=10000,
                delivery_timeout_ms=30000,
            )
        return self._producer

    def _close_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:  # closing a producer whose broker is gone may raise
                log.debug("error closing producer", exc_info=True)
            self._producer = None
