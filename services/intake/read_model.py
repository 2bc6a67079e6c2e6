"""The ticket-status read model: follows `ticket.events` into intake's store.

WeChat progress queries are answered from intake's own table, so a query never waits for
another service. A kafka-python consumer runs in a daemon thread; each record is applied in
its own transaction and offsets are committed only after the store has committed, so a
crash re-applies a few records, which `update_ticket_status` ignores by event id and time.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import InvalidEvent, TicketEvent, decode
from feedbackloop.events.topics import TICKET_EVENTS
from services.intake import service

log = logging.getLogger(__name__)

GROUP_ID = "feedbackloop-intake-status"


class StatusConsumer(Protocol):
    """The part of KafkaConsumer the feed uses (a fake in tests)."""

    def poll(self, timeout_ms: int = ..., max_records: int | None = ...) -> dict[Any, list[Any]]:
        """Records fetched since the last poll, by partition."""

    def commit(self) -> None:
        """Commit the positions of the records returned so far."""

    def close(self, autocommit: bool = ...) -> None:
        """Leave the group and close connections."""


def apply_record(
    *,
    sessions: sessionmaker[Session],
    write_guard: AbstractContextManager[object],
    value: bytes | None,
) -> bool:
    """Apply one `ticket.events` record; False if it was skipped or changed nothing."""
    try:
        envelope = decode(value, expect=TicketEvent)
    except InvalidEvent as exc:
        log.warning("skipping an undecodable ticket event: %s", exc)
        return False
    try:
        with write_guard, sessions.begin() as session:
            return service.update_ticket_status(
                session=session, event_id=envelope.id, event=envelope.data
            )
    except IntegrityError:
        # E.g. a ticket number reused by another ticket id: retrying cannot fix the data.
        log.error("skipping ticket event %s that conflicts with the store", envelope.id)
        return False


class TicketStatusFeed:
    """Keeps the read model up to date from Kafka, surviving broker outages."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        bootstrap: str,
        write_guard: AbstractContextManager[object],
        connect: Callable[[], StatusConsumer] | None = None,
        poll_timeout_ms: int = 500,
        max_backoff: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._bootstrap = bootstrap
        self._write_guard = write_guard
        self._connect = connect or self._kafka_consumer
        self._poll_timeout_ms = poll_timeout_ms
        self._max_backoff = max_backoff
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0
        self.connected = False

    def start(self) -> None:
        """Start following in the background (again after a stop)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="ticket-status-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the record in hand; uncommitted offsets are read again on the next start."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        backoff = 0.2
        consumer: StatusConsumer | None = None
        while not self._stopping.is_set():
            try:
                if consumer is None:
                    consumer = self._connect()
                    self.connected = True
                self._poll_once(consumer)
                backoff = 0.2
            except KafkaError as exc:
                log.warning("ticket.events unavailable, progress answers may lag: %s", exc)
            except Exception:
                log.exception("ticket status feed failed; reconnecting")
            else:
                continue
            self.connected = False
            self._close(consumer)
            consumer = None
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)
        self._close(consumer)
        self.connected = False

    def _poll_once(self, consumer: StatusConsumer) -> None:
        batches = consumer.poll(timeout_ms=self._poll_timeout_ms, max_records=200)
        if not batches:
            return
        for records in batches.values():
            for record in records:
                applied = apply_record(
                    sessions=self._sessions, write_guard=self._write_guard, value=record.value
                )
                self.applied += int(applied)
        consumer.commit()

    def _kafka_consumer(self) -> StatusConsumer:
        consumer: StatusConsumer = KafkaConsumer(
            TICKET_EVENTS,
            bootstrap_servers=self._bootstrap,
            client_id="feedbackloop-intake-status",
            group_id=GROUP_ID,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            # Short, so that stop() is not held up by a broker that is down at start.
            bootstrap_timeout_ms=2000,
        )
        return consumer

    @staticmethod
    def _close(consumer: StatusConsumer | None) -> None:
        if consumer is None:
            return
        try:
            consumer.close(autocommit=False)
        except Exception:  # closing a consumer whose broker is gone may raise
            log.debug("error closing the ticket status consumer", exc_info=True)
