"""The folding agent: every event of the loop into the metrics."""

import logging
from typing import Any

import faust

from feedbackloop.events import InvalidEvent, decode
from services.metrics.fold import EventFold

log = logging.getLogger(__name__)


def register(app: faust.App, *, source: faust.TopicT, fold: EventFold) -> Any:
    """Attach the folding agent to a faust app and return it."""

    @app.agent(source, name="fold")
    async def fold_events(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                fold.apply(decode(event.value))
            except InvalidEvent as exc:
                # Producers dead-letter their own bad output; counting must not stop for it.
                log.warning("skipping undecodable event at %s: %s", event.message.tp, exc)

    return fold_events
