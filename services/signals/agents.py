"""The signals worker's agents.

- `sight`: FeedbackRouted in (partitioned by ticket); for an item with a category that names a
  place, one `Sighting` on the through topic, keyed by place and category; and for surges
  one `Mention` per key of the item (its category, district and place) on a second one.
- `count`: the sightings of the partitions this worker owns; each counted in its place's
  `Burst` in the table, and a `HotspotDetected` on feedback.hotspots when one completes.
- `count-mentions`: the mentions; each counted in its key's `Trend`, and a `SurgeDetected`
  (舆情预警) on feedback.hotspots when a key's hour is far above its baseline.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter

from feedbackloop.events import (
    FeedbackRouted,
    HotspotDetected,
    InvalidEvent,
    RoutingMethod,
    SurgeDetected,
    SurgeDimension,
    decode,
    deterministic_event_id,
    encode,
    new_event,
)
from feedbackloop.events.envelope import Envelope
from feedbackloop.places import place_of
from feedbackloop.tone import is_heated
from services.signals.bursts import Hotspot, count, empty_burst, is_stale
from services.signals.records import Burst, Mention, Sighting, Trend
from services.signals.surges import Surge, SurgeRules, empty_trend
from services.signals.surges import count as count_surge
from services.signals.surges import is_stale as trend_is_stale
from services.signals.topics import mention_key, sighting_key

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
            "Quiet places and keys dropped from the tables.",
            registry=self.registry,
        )
        self.surges = Counter(
            "feedbackloop_signals_surges",
            "Surge warnings (舆情预警) sent.",
            ["dimension"],
            registry=self.registry,
        )


@dataclass(frozen=True)
class Rules:
    """What makes a hotspot."""

    items: int
    window_seconds: float


#: A district as the city's addresses write it (A3区); the item's location wins if it has one.
DISTRICT = re.compile(r"[A-Z]\d{1,2}区")


def routed_of(raw: bytes | None) -> FeedbackRouted | None:
    """The routing decision in a record, or None (the router dead-letters its own bad input)."""
    try:
        return decode(raw, expect=FeedbackRouted).data
    except InvalidEvent:
        return None


def mentions_of(routed: FeedbackRouted) -> list[Mention]:
    """The keys an item counts under for surges: its category, district and place.

    An operator's assignment of a triaged item is not counted again: its triage routing
    was (with the model's category).
    """
    if routed.method is RoutingMethod.MANUAL:
        return []
    item = routed.feedback
    text = f"{item.title or ''}\n{item.text}"
    district = item.location.district if item.location and item.location.district else None
    if district is None and (found := DISTRICT.search(text)):
        district = found.group(0)
    keys = [
        (SurgeDimension.CATEGORY, routed.category),
        (SurgeDimension.DISTRICT, district),
        (SurgeDimension.PLACE, place_of(text)),
    ]
    heated = is_heated(text, routed.priority.value)
    at = item.received_at.timestamp()
    return [
        Mention(dimension=d.value, key=k[:100], ticket_no=item.ticket_no, at=at, heated=heated)
        for d, k in keys
        if k
    ]


def surge_event(surge: Surge) -> Envelope[SurgeDetected]:
    """The warning for a surge; its id comes from the key and the item that revealed it."""
    data = SurgeDetected(
        dimension=SurgeDimension(surge.dimension),
        key=surge.key,
        count=surge.count,
        expected=surge.expected,
        heated_share=surge.heated_share,
        ticket_nos=list(surge.ticket_nos[-2000:]),
        first_at=surge.first_at,
        last_at=surge.last_at,
        trend=list(surge.trend),
        baseline=list(surge.baseline),
    )
    return new_event(
        data=data,
        source=SOURCE,
        subject=f"surge:{surge.dimension}:{surge.key}",
        event_id=deterministic_event_id(surge.ticket_nos[-1], f"surge/{surge.dimension}"),
    )


def sighting_of(raw: bytes | None) -> Sighting | None:
    """The sighting a routed item makes, if it has a category and names a place."""
    routed = routed_of(raw)
    return None if routed is None else sighting_from(routed)


def sighting_from(routed: FeedbackRouted) -> Sighting | None:
    """The sighting of a routing decision, if it has a category and names a place."""
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
    mentions: Any,
    trends: Any,
    surge_rules: SurgeRules,
) -> None:
    """Attach the agents to the app."""
    swept: dict[int, float] = {}

    @app.agent(routed, name="signals-sight")
    async def sight(stream: faust.StreamT) -> None:
        async for raw in stream:
            decision = routed_of(raw)
            if decision is None:
                continue
            for mention in mentions_of(decision):
                await mentions.send(key=mention_key(mention.dimension, mention.key), value=mention)
            found = sighting_from(decision)
            if found is None:
                continue
            metrics.sightings.inc()
            await sightings.send(key=sighting_key(found.place, found.category), value=found)

    trend_swept: dict[int, float] = {}

    @app.agent(mentions, name="signals-count-mentions")
    async def count_mentions(stream: faust.StreamT) -> None:
        async for event in stream.events():
            found: Mention = event.value
            partition = event.message.partition
            key = mention_key(found.dimension, found.key)
            trend, surge = count_surge(
                trends.get(key) or empty_trend(partition),
                dimension=found.dimension,
                key=found.key,
                ticket_no=found.ticket_no,
                at=found.at,
                heated=found.heated,
                rules=surge_rules,
                warm=found.dimension == SurgeDimension.PLACE.value,
            )
            trends[key] = trend
            if surge is not None:
                alert = surge_event(surge)
                await hotspots.send(key=alert.subject.encode(), value=encode(alert))
                metrics.surges.labels(dimension=surge.dimension).inc()
                log.info("surge of %d items (%s)", surge.count, surge.dimension)
            if found.at - trend_swept.get(partition, 0.0) >= SWEEP_SECONDS:
                trend_swept[partition] = found.at
                _forget(
                    trends,
                    partition=partition,
                    now=found.at,
                    stale=lambda t, now: (
                        isinstance(t, Trend) and trend_is_stale(t, now=now, rules=surge_rules)
                    ),
                    metrics=metrics,
                )

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
                _forget(
                    bursts,
                    partition=partition,
                    now=found.at,
                    stale=lambda b, now: (
                        isinstance(b, Burst) and is_stale(b, now=now, window=rules.window_seconds)
                    ),
                    metrics=metrics,
                )


def _forget(
    table: Any,
    *,
    partition: int,
    now: float,
    stale: Callable[[Any, float], bool],
    metrics: SignalMetrics,
) -> None:
    """Drop a table's stale keys of one partition (faust writes a deletion to the changelog
    of the partition of the event being processed: only that partition's keys may be touched)."""
    quiet = [
        key
        for key, value in list(table.items())
        if getattr(value, "partition", None) == partition and stale(value, now)
    ]
    for key in quiet:
        del table[key]
    if quiet:
        metrics.forgotten.inc(len(quiet))
