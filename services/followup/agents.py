"""Ticket opening: FeedbackRouted in, stored tickets (and their outbox events) out, a batch at a
time.

A batch of routing decisions is applied in one transaction (`StoreBatch`): every ticket, its
audit entry, its clocks, its outbox event and the event id that marks the decision as
handled commit together, so a batch replayed after a crash changes nothing. A locked or
unreachable store is waited out by the loop (nothing is dead-lettered for it); bad input
(InvalidEvent), a conflict with stored data (IllegalTransition, IntegrityError: a ticket number
reused for another ticket) or a value the store refuses (DataError: a NUL in an address on
PostgreSQL) parks that one event with the reason while the rest of its batch is applied.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Envelope, FeedbackRouted
from feedbackloop.runtime.store_batches import StoreBatch, decoder
from services.followup import flows
from services.followup.metrics import Tally

#: The consumer named in followup's dead letters (and shown by `feedbackloop dlq list`).
CONSUMER = "followup"

#: Where a transaction keeps the count of routings it applied, until it commits.
_FRESH = "followup.routings_applied"

RoutedBatch = StoreBatch[Envelope[FeedbackRouted]]


def ticket_opening(
    *,
    sessions: sessionmaker[Session],
    desk: flows.Desk,
    wake_relay: Callable[[], None],
    tally: Tally | None = None,
) -> RoutedBatch:
    """The batch handler of feedback.routed: opens (or re-routes) tickets, once per event id."""
    counted = tally or Tally()

    def apply(session: Session, routed: Envelope[FeedbackRouted]) -> None:
        applied = flows.apply_routing(
            session=session, desk=desk, routed=routed, now=datetime.now(UTC)
        )
        if applied is not None:
            _count_on_commit(session, counted)

    def committed(_events: int) -> None:
        # The batch's ticket events are in the outbox now.
        wake_relay()

    return StoreBatch(
        consumer=CONSUMER,
        sessions=sessions,
        decode=decoder(FeedbackRouted),
        apply=apply,
        after_commit=committed,
    )


def _count_on_commit(session: Session, tally: Tally) -> None:
    """Count an applied routing once its transaction commits.

    Every transaction has a session of its own, so the count of one that rolls back (a batch
    then applied again event by event) goes with it; a duplicate event id is never counted.
    """
    if _FRESH not in session.info:
        session.info[_FRESH] = 0

        def add(committed: Session) -> None:
            tally.applied += committed.info.pop(_FRESH, 0)

        event.listen(session, "after_commit", add, once=True)
    session.info[_FRESH] += 1
