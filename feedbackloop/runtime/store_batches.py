"""Applying a batch of events to a SQL store in one transaction: the consumers' one policy.

Every per-item consumer that keeps state in a store (followup's tickets and notifications,
intake's status read model) is a `StoreBatch` run by `BatchLoop`:

- `prepare` (a worker thread) decodes the batch's records. A record that is not a valid
  event of the expected kind is dead-lettered (or skipped, for a consumer that reads topics
  whose producers dead-letter their own bad output).
- `handle` applies the decoded events in order inside ONE transaction, in a worker thread so
  the web API keeps answering. `apply` drops an event id it has seen inside that same
  transaction, so the effect and its de-duplication commit together: a replay after a crash
  changes nothing.
- One retry policy. A transient error (the store locked, away or out of connections; see
  `transient_store_error`) leaves the handler: the loop drops the batch, waits with a growing
  pause and reads it again from the last commit, for as long as the store is away. Any other
  error is permanent for some event of the batch: the transaction is rolled back and the events
  are applied again one transaction each, so the one that fails is dead-lettered with the
  reason (`feedbackloop dlq replay` after the fix) and its neighbours are applied.
- The offsets are committed by the loop only after `handle` returned, i.e. after the commit.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import InvalidEvent, decode
from feedbackloop.runtime.batches import Record, dead_letter_output, describe
from feedbackloop.runtime.producer import Output

log = logging.getLogger(__name__)

E = TypeVar("E")

#: What applying one event does: the records it publishes (usually none: services write their
#: events to their outbox in the same transaction), or None.
Apply = Callable[[Session, E], Sequence[Output] | None]


def transient_store_error(exc: BaseException) -> bool:
    """True for store errors that pass: a locked SQLite file, a lost or refused PostgreSQL
    connection, a deadlock or serialisation failure, an exhausted connection pool."""
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    """A record and its event (None if it did not decode)."""

    record: Record
    event: E | None
    error: str | None = None


@dataclass
class StoreBatchStatus:
    """What a store consumer counts (for its metrics and health)."""

    applied: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    transactions: int = 0


class StoreBatch(Generic[E]):
    """A `BatchHandler` that applies decoded events to a store, one transaction per batch."""

    def __init__(
        self,
        *,
        consumer: str,
        sessions: sessionmaker[Session],
        decode: Callable[[bytes | None], E],
        apply: Apply[E],
        after_commit: Callable[[int], None] | None = None,
        write_guard: AbstractContextManager[object] | None = None,
        dead_letter_invalid: bool = True,
    ) -> None:
        self.consumer = consumer
        self._sessions = sessions
        self._decode = decode
        self._apply = apply
        self._after_commit = after_commit
        self._guard = write_guard or nullcontext()
        self._dead_letter_invalid = dead_letter_invalid
        self.status = StoreBatchStatus()

    def prepare(self, records: list[Record]) -> list[Decoded[E]]:
        """Decode every record (in a worker thread)."""
        decoded: list[Decoded[E]] = []
        for record in records:
            try:
                decoded.append(Decoded(record, self._decode(record.value)))
            except InvalidEvent as exc:
                decoded.append(Decoded(record, None, f"InvalidEvent: {exc}"))
        return decoded

    async def handle(self, prepared: list[Decoded[E]]) -> list[Output]:
        """Apply the batch and return what it publishes (dead letters included)."""
        # The store is synchronous; the event loop (and the HTTP API on it) stays free.
        return await asyncio.to_thread(self.apply_batch, prepared)

    def apply_batch(self, prepared: list[Decoded[E]]) -> list[Output]:
        """Apply a decoded batch in one transaction, or event by event if one fails for good."""
        outputs: list[Output] = []
        good: list[Decoded[E]] = []
        for item in prepared:
            if item.event is not None:
                good.append(item)
            elif self._dead_letter_invalid:
                outputs.append(self._letter(item.record, item.error or "InvalidEvent"))
            else:
                self.status.skipped += 1
        if not good:
            return outputs
        try:
            outputs.extend(self._transaction(good))
            applied = len(good)
        except Exception as exc:
            if transient_store_error(exc):
                raise
            log.warning(
                "%s: a batch of %d failed (%s); applying its events one at a time",
                self.consumer,
                len(good),
                type(exc).__name__,
            )
            applied = 0
            for item in good:
                try:
                    outputs.extend(self._transaction([item]))
                    applied += 1
                except Exception as one:
                    if transient_store_error(one):
                        raise
                    outputs.append(self._letter(item.record, describe(one)))
        self.status.applied += applied
        if self._after_commit is not None and applied:
            self._after_commit(applied)
        return outputs

    def _transaction(self, items: list[Decoded[E]]) -> list[Output]:
        published: list[Output] = []
        with self._guard, self._sessions.begin() as session:
            for item in items:
                assert item.event is not None
                published.extend(self._apply(session, item.event) or ())
        self.status.transactions += 1
        return published

    def _letter(self, record: Record, reason: str) -> Output:
        self.status.dead_lettered += 1
        # The kind of error only in the log: its details may quote the event.
        return dead_letter_output(consumer=self.consumer, record=record, reason=reason)


def decoder(expect: type[Any]) -> Callable[[bytes | None], Any]:
    """A `decode` for one event kind (feedbackloop.events.decode with `expect`)."""

    def decode_one(value: bytes | None) -> Any:
        return decode(value, expect=expect)

    return decode_one
