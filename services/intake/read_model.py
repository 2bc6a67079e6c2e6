"""The ticket-status read model: follows `ticket.events` into intake's store.

WeChat progress queries and Open311's lists (`open311_records`) are answered from intake's
own tables, so a query never waits for another service. The consumer is the shared runtime's:
a `StoreBatch` in a `ConsumerService` (consumer group feedbackloop-intake-status). Each batch
of events is applied in one transaction, under intake's SQLite write guard, and its offsets
are committed only after the store has committed, so a crash re-applies the batches in
flight, which `update_ticket_status` ignores by event id and time.

A store that is locked or away is waited out: the batch is read again after a growing pause.
An event the store refuses for good (a ticket number another ticket already has) is
dead-lettered on its own and the rest of its batch applied. Records that are not ticket
events are skipped: followup dead-letters its own bad output.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Envelope, TicketEvent
from feedbackloop.events.topics import DEAD_LETTER, TICKET_EVENTS
from feedbackloop.runtime.consumers import ConsumerService
from feedbackloop.runtime.producer import KafkaPublisher, Output
from feedbackloop.runtime.store_batches import StoreBatch, decoder
from services.intake import open311_records, service

GROUP_ID = "feedbackloop-intake-status"


def apply_event(session: Session, event: Envelope[TicketEvent]) -> Sequence[Output] | None:
    """Apply one ticket event to the read model (a no-op if a newer one is already there)."""
    service.update_ticket_status(session=session, event_id=event.id, event=event.data)
    open311_records.apply_event(session=session, event_id=event.id, event=event.data)
    return None


def status_batch(
    *, sessions: sessionmaker[Session], write_guard: AbstractContextManager[object]
) -> StoreBatch[Envelope[TicketEvent]]:
    """The read model's handler: a batch of ticket events, one transaction."""
    return StoreBatch(
        consumer=GROUP_ID,
        sessions=sessions,
        decode=decoder(TicketEvent),
        apply=apply_event,
        write_guard=write_guard,
        dead_letter_invalid=False,
    )


def status_feed(
    *,
    sessions: sessionmaker[Session],
    bootstrap: str,
    write_guard: AbstractContextManager[object],
    partitions: int = 6,
    publisher: KafkaPublisher | None = None,
) -> ConsumerService:
    """The read model's consumer; it starts and stops with intake's app."""
    return ConsumerService(
        name=GROUP_ID,
        bootstrap=bootstrap,
        handlers={TICKET_EVENTS: status_batch(sessions=sessions, write_guard=write_guard)},
        group=GROUP_ID,
        publisher=publisher,
        topics=[DEAD_LETTER],
        partitions=partitions,
    )
