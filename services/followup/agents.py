"""The ticket-opening agent: FeedbackRouted in, a stored ticket (and its outbox event) out."""

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import FeedbackRouted, decode
from feedbackloop.runtime.producer import Publish
from feedbackloop.runtime.streams import settle
from services.followup import flows
from services.followup.metrics import Tally

log = logging.getLogger(__name__)

CONSUMER = "followup"


def open_ticket(*, sessions: sessionmaker[Session], desk: flows.Desk, raw: bytes) -> bool:
    """Apply one raw FeedbackRouted event to the store, once per event id; True if applied."""
    routed = decode(raw, expect=FeedbackRouted)
    with sessions.begin() as session:
        return (
            flows.apply_routing(session=session, desk=desk, routed=routed, now=datetime.now(UTC))
            is not None
        )


def register(
    app: faust.App,
    *,
    source: faust.TopicT,
    sessions: sessionmaker[Session],
    desk: flows.Desk,
    publish: Publish,
    wake_relay: Callable[[], None],
    tally: Tally | None = None,
    retry_seconds: float = 120.0,
) -> Any:
    """Attach the ticket-opening agent to a faust app and return it."""
    counted = tally or Tally()

    @app.agent(source, name="open-tickets")
    async def open_tickets(stream: faust.StreamT) -> None:
        async for event in stream.events():
            # A locked or unreachable store is waited for; bad input (InvalidEvent), a
            # conflict with stored data (IllegalTransition, IntegrityError: a ticket number
            # reused for another ticket) or a value the store refuses (DataError: a NUL in
            # an address on PostgreSQL) is parked with the reason, and the next event is
            # handled. Replays are harmless: an event id is applied once.
            work = functools.partial(open_ticket, sessions=sessions, desk=desk, raw=event.value)
            if await settle(
                event, work, consumer=CONSUMER, publish=publish, retry_seconds=retry_seconds
            ):
                counted.applied += 1
                wake_relay()

    return open_tickets
