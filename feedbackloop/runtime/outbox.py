"""The outbox relay: publishes committed events to Kafka and marks them sent once acknowledged.

A service writes each event into its outbox table in the same transaction as the change the
event describes; this relay moves the rows to Kafka, so an event is published if and only if
its change was committed (at least once: consumers drop copies by event id).

It runs in its own thread, on an event loop of its own, with the runtime's one producer path
(`KafkaPublisher`: aiokafka, acks=all, idempotent): each round takes up to `batch_size` rows,
hands them over as one record batch per partition, waits until the broker has them all and
marks them sent in one UPDATE. A writer wakes it after committing, so the usual path has no
polling delay; the idle timeout only picks up rows left over from a previous run or an outage.

A row the broker refuses for good (too large, a topic name Kafka forbids: see `REFUSALS`)
must not hold up the rows behind it. It is marked done and a DeadLetter saying why joins
the outbox in the same transaction, under the event id `refused/<its event id>`, so the
letter reaches `feedback.dlq` like any event. Refused rows and their letters are kept when
sent rows are pruned (after `retention`): the row holds the only full copy of the payload.
Transient errors (the broker is down, a leader moves) keep every row for the next attempt.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.errors import (
    KafkaError,
)
from sqlalchemy import Index, Integer, LargeBinary, String, delete, insert, literal, select, update
from sqlalchemy.orm import Mapped, Session, aliased, declared_attr, mapped_column, sessionmaker

from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER
from feedbackloop.runtime.outbox_refusals import (
    REFUSED_PREFIX,
    letter_id,
    refusal_before_sending,
    refused_for_good,
    why_refused,
)
from feedbackloop.runtime.producer import KafkaPublisher, Output
from feedbackloop.runtime.sql import UTCDateTime

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=7)


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
        write_guard: AbstractContextManager[object] | None = None,
    ) -> None:
        self._sessions = sessions
        self._table: type[OutboxColumns] = table
        self._client_id = client_id
        self._bootstrap = bootstrap
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._retention = retention
        # The service's lock for SQLite writers, so the relay's UPDATEs queue behind its
        # other writers instead of sleeping in SQLite's busy handler.
        self._guard = write_guard or nullcontext()
        # A short retention (in tests) is pruned a few times within it, not once an hour.
        self._prune_every = min(prune_every, retention.total_seconds() / 4)
        self._next_prune = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._stop_asked: asyncio.Event | None = None
        self._publisher: KafkaPublisher | None = None
        self.published = 0
        self.dead_lettered = 0
        self.pruned = 0
        self.broker_available = False

    def start(self) -> None:
        """Start publishing in the background (again after a stop)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), name="outbox-relay", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Tell the relay that new rows were committed."""
        self._call_on_loop(lambda: self._woken.set() if self._woken else None)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in flight; unsent rows stay in the outbox for the next start."""
        self._stopping.set()
        self._call_on_loop(lambda: self._stop_asked.set() if self._stop_asked else None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _call_on_loop(self, callback: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with suppress(RuntimeError):  # the relay's loop has just closed
            loop.call_soon_threadsafe(callback)

    async def _run(self) -> None:
        self._woken, self._stop_asked = asyncio.Event(), asyncio.Event()
        self._loop = asyncio.get_running_loop()
        backoff = 0.2
        try:
            while not self._stopping.is_set():
                self._prune_when_due()
                try:
                    sent = await self._publish_batch()
                    backoff = 0.2
                except (KafkaError, ConnectionError, LookupError) as exc:
                    # Unreachable, a leader moving, a topic not there (yet): rows wait.
                    self.broker_available = False
                    log.warning("Kafka unavailable, items stay in the outbox: %s", exc)
                    await self._close_publisher()
                    await self._wait(self._stop_asked, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await self._wait(self._stop_asked, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if sent < self._batch_size:
                    await self._wait(self._woken, self._idle_seconds)
                    self._woken.clear()
        finally:
            self._loop = None
            await self._close_publisher()

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _publish_batch(self) -> int:
        table = self._table
        with self._sessions() as session:
            stmt = select(table).where(table.sent_at.is_(None)).order_by(table.id)
            rows: list[Any] = list(session.execute(stmt.limit(self._batch_size)).scalars())
        if not rows:
            return 0
        refused: list[tuple[Any, str]] = []
        sendable: list[Any] = []
        for row in rows:
            why = refusal_before_sending(row)
            if why is None:
                sendable.append(row)
            else:
                refused.append((row, why))
        acknowledged: list[int] = []
        failed: list[tuple[Any, BaseException]] = []
        if sendable:
            acknowledged, failed = await self._send(await self._get_publisher(), sendable)
        refused_by_broker = [
            (row, why_refused(exc)) for row, exc in failed if refused_for_good(exc)
        ]
        refused += refused_by_broker
        if acknowledged or refused:
            now = datetime.now(UTC)
            with self._guard, self._sessions.begin() as session:
                if acknowledged:
                    session.execute(
                        update(table).where(table.id.in_(acknowledged)).values(sent_at=now)
                    )
                for row, reason in refused:
                    self._dead_letter(session, row, reason, now)
        self.published += len(acknowledged)
        self.dead_lettered += len(refused)
        self.broker_available = True
        if refused_by_broker:
            # A fresh producer for the rest: a refused batch must not leave the idempotent
            # producer's sequence numbers in doubt.
            await self._close_publisher()
        transient = [exc for _row, exc in failed if not refused_for_good(exc)]
        if transient:
            error = transient[0]
            raise (
                error
                if isinstance(error, KafkaError)
                else KafkaError(
                    f"{len(transient)} of {len(rows)} items not acknowledged: {error!r}"
                )
            )
        return len(rows)

    async def _send(
        self, publisher: KafkaPublisher, rows: Sequence[Any]
    ) -> tuple[list[int], list[tuple[Any, BaseException]]]:
        """Ids of the rows the broker has, and the others with the error they got.

        All go out at once, a batch per partition. If any was refused for good, the rows of
        that topic go again one by one, so that only the refused ones are dead-lettered
        (their neighbours may reach the topic twice: consumers drop copies by event id).
        """
        by_topic: dict[str, list[Any]] = {}
        for row in rows:
            by_topic.setdefault(row.topic, []).append(row)
        outcomes = await asyncio.gather(
            *(self._send_topic(publisher, part) for part in by_topic.values())
        )
        acknowledged: list[int] = []
        failed: list[tuple[Any, BaseException]] = []
        for part, error in zip(by_topic.values(), outcomes, strict=True):
            if error is None:
                acknowledged += [row.id for row in part]
            elif refused_for_good(error) and len(part) > 1:
                for row in part:
                    alone = await self._send_topic(publisher, [row])
                    if alone is None:
                        acknowledged.append(row.id)
                    else:
                        failed.append((row, alone))
            else:
                failed += [(row, error) for row in part]
        return acknowledged, failed

    @staticmethod
    async def _send_topic(publisher: KafkaPublisher, rows: Sequence[Any]) -> BaseException | None:
        """Send rows of one topic; None once the broker has them all, else the first error."""
        outputs = [Output(row.topic, row.key, row.payload) for row in rows]
        try:
            receipts = await publisher.send_many(outputs)
            results = await asyncio.gather(*receipts, return_exceptions=True)
        except (KafkaError, ConnectionError, LookupError) as exc:
            return exc
        errors = [result for result in results if isinstance(result, BaseException)]
        # A refusal first: it decides whether the rows go again one by one.
        return next((e for e in errors if refused_for_good(e)), errors[0] if errors else None)

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
                event_id=letter_id(row.event_id),
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
            with self._guard, self._sessions.begin() as session:
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

    async def _get_publisher(self) -> KafkaPublisher:
        if self._publisher is None:
            publisher = KafkaPublisher(bootstrap=self._bootstrap, client_id=self._client_id)
            await publisher.start()
            self._publisher = publisher
        return self._publisher

    async def _close_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                await asyncio.wait_for(publisher.stop(), 5)
            except Exception:  # stopping a producer whose broker is gone may raise
                log.debug("error closing producer", exc_info=True)
