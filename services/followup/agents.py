"""The ticket-opening agent: FeedbackRouted in, a stored ticket and a TicketEvent out."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import FeedbackRouted, InvalidEvent, decode, encode
from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER, TICKET_EVENTS
from services.followup import service

log = logging.getLogger(__name__)

#: Sends one record: (topic, key, value).
Publish = Callable[[str, str, bytes], Awaitable[Any]]


def open_ticket(*, sessions: sessionmaker[Session], raw: bytes) -> service.Applied:
    """Apply one raw FeedbackRouted event to the store, idempotently by event id."""
    routed = decode(raw, expect=FeedbackRouted)
    with sessions.begin() as session:
        return service.apply_routing(session=session, routed=routed)


def register(
    app: faust.App, *, source: faust.TopicT, sessions: sessionmaker[Session], publish: Publish
) -> Any:
    """Attach the ticket-opening agent to a faust app and return it."""

    @app.agent(source, name="open-tickets")
    async def open_tickets(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                # The store is synchronous; keep the event loop (and the HTTP API) free.
                opened = await asyncio.to_thread(open_ticket, sessions=sessions, raw=event.value)
            except InvalidEvent as exc:
                log.warning("dead-lettering %s: %s", event.message.tp, exc)
                message = event.message
                letter_key, letter = dead_letter(
                    consumer="followup",
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=event.key,
                    value=event.value,
                    error=str(exc),
                )
                await publish(DEAD_LETTER, letter_key, letter)
                continue
            # Published again for a duplicate too, with the same id: if the first copy was
            # lost in a crash this one replaces it, otherwise consumers drop it.
            await publish(TICKET_EVENTS, opened.event.subject, encode(opened.event))

    return open_tickets
