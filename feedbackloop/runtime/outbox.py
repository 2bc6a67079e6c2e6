"""The outbox relay: publishes committed events to Kafka and marks them sent once acknowledged.

A service writes each event into its outbox table in the same transaction as the change the
event describes; this relay moves the rows to Kafka, so an event is published if and only if
its change was committed (at least once: consumers drop copies by event id).

It runs in its own thread with a synchronous kafka-python producer (acks=all, idempotent).
A request handler wakes it after committing, so the usual path has no polling delay; the
idle timeout only picks up rows left over from a previous run or an outage.

A row the broker refuses for good (too large, a topic name Kafka forbids: see `REFUSALS`)
must not hold up the rows behind it. It is marked done and a DeadLetter saying why joins
the outbox in the same transaction, under the event id `refused/<its event id>`, so the
letter reaches `feedback.dlq` like any event. Refused rows and their letters are kept when
sent rows are pruned (after `retention`): the row holds the only full copy of the payload.
Transient errors (the broker is down, a leader moves) keep every row for the next attempt.
"""

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaProducer
from kafka.errors import (
    BrokerResponseError,
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)
from sqlalchemy import Index, Integer, LargeBinary, String, delete, insert, literal, select, update
from sqlalchemy.orm import Mapped, Session, aliased, declared_attr, mapped_column, sessionmaker

from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.sql import UTCDateTime

log = logging.getLogger(__name__)

#: Errors by which the broker, or the client before sending, refuses one record for good:
#: its size, its topic's name or its format. None is `retriable` in kafka-python; sending
#: the record again gets the same answer. Other non-retriable errors (authorisation, a
#: closed producer) are about the set-up, not the record: those rows wait for a fix.
REFUSALS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    InvalidRecordError,
    CorruptRecordError,
    PolicyViolationError,
    UnsupportedForMessageFormatError,
)
#: What `send` raises for such a record before sending it (an illegal topic name is a
#: ValueError in kafka-python).
SEND_REFUSALS: tuple[type[Exception], ...] = (*REFUSALS, ValueError)
#: Event id prefix of the dead letter that a refused row becomes.
REFUSED_PREFIX = "refused/"
DEFAULT_RETENTION = timedelta(days=7)


def refused_for_good(exc: BaseException | None) -> bool:
    """True if the broker will never take the record that failed with `exc`."""
    return isinstance(exc, REFUSALS) and not exc.retriable


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
        retention: timedelta = DEFAULT_RETENTION,
        prune_every: float = 3600.0,
    ) -> None:
        self._sessions = sessions
        self._table: type[OutboxColumns] = table
        self._client_id = client_id
        self._bootstrap = bootstrap
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._retention = retention
        # A short retention (in tests) is pruned a few times within it, not once an hour.
        self._prune_every = min(prune_every, retention.total_seconds() / 4)
        self._next_prune = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: KafkaProducer | None = None
        self.published = 0
        self.dead_lettered = 0
        self.pruned = 0
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
            self._prune_when_due()
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
        futures = []
        refused: list[tuple[Any, str]] = []
        for row in rows:
            try:
                future = producer.send(row.topic, key=row.key.encode(), value=row.payload)
            except SEND_REFUSALS as exc:  # the client checks size and topic name first
                refused.append((row, _reason(exc)))
                continue
            futures.append((row, future))
        producer.flush(timeout=30)
        acknowledged = [row.id for row, future in futures if future.succeeded()]
        failed = [(row, future.exception) for row, future in futures if future.failed()]
        refused += [(row, _reason(exc)) for row, exc in failed if refused_for_good(exc)]
        if acknowledged or refused:
            now = datetime.now(UTC)
            with self._sessions.begin() as session:
                if acknowledged:
                    session.execute(
                        update(table).where(table.id.in_(acknowledged)).values(sent_at=now)
                    )
                for row, reason in refused:
                    self._dead_letter(session, row, reason, now)
        self.published += len(acknowledged)
        self.dead_lettered += len(refused)
        self.broker_available = True
        if refused:
            # A fresh producer for the rest: a refused batch must not leave the idempotent
            # producer's sequence numbers in doubt.
            self._close_producer()
        transient = [exc for _, exc in failed if not refused_for_good(exc)]
        unanswered = len(futures) - len(acknowledged) - len(failed)
        if transient or unanswered:
            raise (
                transient[0]
                if transient and isinstance(transient[0], KafkaError)
                else KafkaError(
                    f"{len(transient) + unanswered} of {len(rows)} items not acknowledged"
                )
            )
        return len(rows)

    def _dead_letter(self, session: Session, row: Any, reason: str, now: datetime) -> None:
        """Mark a refused row done and put the DeadLetter saying why in the outbox."""
        table = self._table
        session.execute(update(table).where(table.id == row.id).values(sent_at=now))
        if row.event_id.startswith(REFUSED_PREFIX) or row.topic == DEAD_LETTER:
            # A letter refused in turn gets no letter of its own; the refused row it speaks
            # of stays in the outbox.
            log.error("dead letter %s refused by the broker too: %s", row.event_id, reason)
            return
        log.error(
            "outbox row %s for %s refused for good, dead-lettered: %s",
            row.event_id,
            row.topic,
            reason,
        )
        key, letter = dead_letter(
            consumer=self._client_id,
            topic=row.topic,
            partition=-1,
            offset=-1,
            key=row.key.encode(),
            value=row.payload,
            error=reason,
        )
        session.execute(
            insert(table).values(
                event_id=_letter_id(row.event_id),
                topic=DEAD_LETTER,
                key=key,
                payload=letter,
                created_at=now,
            )
        )

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete rows sent longer than the retention ago; how many.

        Refused rows and their letters stay: the row is the only full copy of its payload.
        """
        table = self._table
        cutoff = (now or datetime.now(UTC)) - self._retention
        letters = aliased(table)
        has_letter = (
            select(letters.id)
            .where(letters.event_id == literal(REFUSED_PREFIX) + table.event_id)
            .exists()
        )
        stale = (
            select(table.id)
            .where(
                table.sent_at < cutoff,
                ~table.event_id.startswith(REFUSED_PREFIX, autoescape=True),
                ~has_letter,
            )
            .order_by(table.id)
            .limit(self._batch_size)
        )
        total = 0
        while not self._stopping.is_set():
            # In batches: one huge DELETE would hold SQLite's write lock for long.
            with self._sessions.begin() as session:
                ids = list(session.execute(stale).scalars())
                if ids:
                    session.execute(delete(table).where(table.id.in_(ids)))
            total += len(ids)
            if len(ids) < self._batch_size:
                break
        self.pruned += total
        return total

    def _prune_when_due(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self._prune_every
        try:
            pruned = self.prune()
        except Exception:  # pruning is housekeeping: publishing goes on without it
            log.exception("pruning the outbox failed; trying again later")
            return
        if pruned:
            log.info("pruned %d outbox rows sent more than %s ago", pruned, self._retention)

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


def _letter_id(event_id: str) -> str:
    """The refused row's letter's event id; within the column's 64 characters."""
    letter_id = REFUSED_PREFIX + event_id
    if len(letter_id) <= 64:
        return letter_id
    return (
        REFUSED_PREFIX + hashlib.sha256(event_id.encode()).hexdigest()[: 64 - len(REFUSED_PREFIX)]
    )


def _reason(exc: BaseException | None) -> str:
    """Why a record was refused, for the dead letter (kafka-python's messages name sizes and
    topics, never a payload's contents)."""
    if isinstance(exc, BrokerResponseError) and not any(exc.args):
        return f"{type(exc).__name__}: refused by the broker: {exc.description}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
