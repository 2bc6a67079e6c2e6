"""The signals worker's two agents.

- `sight`: FeedbackRouted in (partitioned by ticket); for an item with a category that names a
  place, one `Sighting` on the through topic, keyed by place and category.
- `count`: the sightings of the partitions this worker owns; each counted in its place's
  `Burst` in the table, and a `HotspotDetected` on feedback.hotspots when one completes.
"""

import logging
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter

from feedbackloop.events import (
    FeedbackRouted,
    HotspotDetected,
    InvalidEvent,
    decode,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.envelope import Envelope
from services.signals.bursts import Hotspot, count, empty_burst, is_stale
from services.signals.places import place_of
from services.signals.records import Burst, Sighting
from services.signals.topics import sighting_key

log = logging.getLogger(__name__)

SOURCE = "/signals"
#: Quiet places are forgotten once per this much item time per partition (a walk of the
#: table), not on every item.
SWEEP_SECONDS = 3600.0


class SignalMetrics:
    """The worker's counters, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sightings = Counter(
            "feedbackloop_signals_sightings",
            "Routed items that name a place.",
            registry=self.registry,
        )
        self.counted = Counter(
            "feedbackloop_signals_counted",
            "Sightings counted in the table.",
            registry=self.registry,
        )
        self.hotspots = Counter(
            "feedbackloop_signals_hotspots",
            "Hotspot alerts sent.",
            ["category"],
            registry=self.registry,
        )
        self.forgotten = Counter(
            "feedbackloop_signals_places_forgotten",
            "Quiet places dropped from the table.",
            registry=self.registry,
        )


@dataclass(frozen=True)
class Rules:
    """What makes a hotspot."""

    items: int
    window_seconds: float


def sighting_of(raw: bytes | None) -> Sighting | None:
    """The sighting a routed item makes, if it has a category and names a place."""
    try:
        routed = decode(raw, expect=FeedbackRouted).data
    except InvalidEvent:
        return None  # the router dead-letters its own bad input; nothing to count
    if not routed.category:
        return None
    # Title and text, as the router reads them (services never import each other).
    item = routed.feedback
    place = place_of(f"{item.title or ''}\n{item.text}")
    if place is None:
        return None
    return Sighting(
        place=place,
        category=routed.category,
        ticket_no=routed.feedback.ticket_no,
        at=routed.feedback.received_at.timestamp(),
    )


def hotspot_event(spot: Hotspot, *, window_seconds: float) -> Envelope[HotspotDetected]:
    """The alert for a burst; its id comes from the ticket that completed it, so a replay or
    a second worker sends the same event, which consumers drop."""
    data = HotspotDetected(
        place=spot.place,
        category=spot.category,
        ticket_nos=list(spot.ticket_nos),
        window_hours=window_seconds / 3600,
        first_at=spot.first_at,
        last_at=spot.last_at,
    )
    return new_event(
        data=data,
        source=SOURCE,
        subject=f"hotspot:{spot.place}",
        event_id=deterministic_event_id(spot.ticket_nos[-1], "hotspot"),
    )


def register(
    app: faust.App,
    *,
    routed: Any,
    sightings: Any,
    hotspots: Any,
    bursts: Any,
    rules: Rules,
    metrics: SignalMetrics,
) -> None:
    """Attach both agents to the app."""
    swept: dict[int, float] = {}

    @app.agent(routed, name="signals-sight")
    async def sight(stream: faust.StreamT) -> None:
        async for raw in stream:
            found = sighting_of(raw)
            if found is None:
                continue
            metrics.sightings.inc()
            await sightings.send(key=sighting_key(found.place, found.category), value=found)

    @app.agent(sightings, name="signals-count")
    async def count_sightings(stream: faust.StreamT) -> None:
        async for event in stream.events():
            found: Sighting = event.value
            partition = event.message.partition
            key = sighting_key(found.place, found.category)
            burst, spot = count(
                bursts.get(key) or empty_burst(partition),
                place=found.place,
                category=found.category,
                ticket_no=found.ticket_no,
                at=found.at,
                items=rules.items,
                window=rules.window_seconds,
            )
            bursts[key] = burst
            metrics.counted.inc()
            if spot is not None:
                alert = hotspot_event(spot, window_seconds=rules.window_seconds)
                await hotspots.send(key=alert.subject.encode(), value=encode(alert))
                metrics.hotspots.labels(category=spot.category).inc()
                log.info("hotspot of %d items in category %s", len(spot.ticket_nos), spot.category)
            if found.at - swept.get(partition, 0.0) >= SWEEP_SECONDS:
                swept[partition] = found.at
                _forget_quiet(
                    bursts, partition=partition, now=found.at, rules=rules, metrics=metrics
                )


def _forget_quiet(
    bursts: Any, *, partition: int, now: float, rules: Rules, metrics: SignalMetrics
) -> None:
    """Drop the quiet places of one partition (faust writes a deletion to the changelog of
    the partition of the event being processed: only that partition's keys may be touched)."""
    quiet = [
        key
        for key, burst in list(bursts.items())
        if isinstance(burst, Burst)
        and burst.partition == partition
        and is_stale(burst, now=now, window=rules.window_seconds)
    ]
    for key in quiet:
        del bursts[key]
    if quiet:
        metrics.forgotten.inc(len(quiet))
