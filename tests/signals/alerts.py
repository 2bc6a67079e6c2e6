"""What the signals worker should have alerted on, and what it sent, read from the topics."""

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from feedbackloop.events import HotspotDetected, InvalidEvent, decode
from feedbackloop.events.topics import FEEDBACK_HOTSPOTS, FEEDBACK_ROUTED
from services.signals.agents import sighting_of


def _records(bootstrap: str, topic: str) -> Iterator[Any]:
    """Every committed record of a topic, from the start to the end it has now."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                yield from batch
    finally:
        consumer.close()


def bursts_on_record(
    bootstrap: str, *, items: int = 5, keep: Callable[[str], bool] = lambda _: True
) -> set[tuple[str, str]]:
    """The (place, category) pairs with at least `items` distinct tickets on feedback.routed:
    one alert each, when all the items arrive within one window (as in a test run)."""
    tickets: dict[tuple[str, str], set[str]] = {}
    for record in _records(bootstrap, FEEDBACK_ROUTED):
        found = sighting_of(record.value)
        if found is not None and keep(found.place):
            tickets.setdefault((found.place, found.category), set()).add(found.ticket_no)
    return {key for key, numbers in tickets.items() if len(numbers) >= items}


def alerts_sent(
    bootstrap: str, *, keep: Callable[[str], bool] = lambda _: True
) -> tuple[Counter[tuple[str, str]], int]:
    """Distinct alerts (by event id) per (place, category) on feedback.hotspots, and how many
    records repeated an alert already read (same event id, dropped by consumers)."""
    alerts: Counter[tuple[str, str]] = Counter()
    seen: set[str] = set()
    repeats = 0
    for record in _records(bootstrap, FEEDBACK_HOTSPOTS):
        try:
            event = decode(record.value, expect=HotspotDetected)
        except InvalidEvent:
            continue
        if not keep(event.data.place):
            continue
        if event.id in seen:
            repeats += 1
            continue
        seen.add(event.id)
        alerts[event.data.place, event.data.category] += 1
    return alerts, repeats


def burst_tickets(bootstrap: str, app_id: str, key: str) -> list[str] | None:
    """The tickets of one place's burst, as the table's changelog last recorded them."""
    latest = None
    wanted = json.dumps(key).encode()
    for record in _records(bootstrap, f"{app_id}-bursts-changelog"):
        if record.key == wanted:
            latest = None if record.value is None else json.loads(record.value)["ticket_nos"]
    return latest
