"""The ticket-opening agent: FeedbackRouted in, a stored ticket (and its outbox event) out."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import FeedbackRouted, InvalidEvent, decode
from feedbackloop.runtime.producer import Publish
from feedbackloop.runtime.streams import publish_dead_letter
from services.followup import flows
from services.followup.metrics import Tally
from services.followup.states import IllegalTransition

log = logging.getLogger(__name__)

#: Sends one record: (topic, key, value).


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
) -> Any:
    """Attach the ticket-opening agent to a faust app and return it."""
    counted = tally or Tally()

    @app.agent(source, name="open-tickets")
    async def open_tickets(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                # The store is synchronous; keep the event loop (and the HTTP API) free.
                if await asyncio.to_thread(
                    open_ticket, sessions=sessions, desk=desk, raw=event.value
                ):
                    counted.applied += 1
            except (InvalidEvent, IllegalTransition, IntegrityError) as exc:
                # Bad input or a conflict with stored data (e.g. a ticket number reused for
                # another ticket): park it with the reason; the next event is handled.
                await publish_dead_letter(
                    publish, consumer="followup", event=event, reason=str(exc)
                )
                continue
            wake_relay()

    return open_tickets
