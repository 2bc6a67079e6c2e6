"""The signals worker's topics: routed items in, sightings repartitioned by place, alerts out."""

from typing import Any

import faust

from feedbackloop.events.topics import FEEDBACK_HOTSPOTS, FEEDBACK_ROUTED
from services.signals.records import Mention, Sighting


def sighting_key(place: str, category: str) -> str:
    """The key of a place's sightings and of its burst in the table."""
    return f"{category}|{place}"


def routed_topic(app: faust.App) -> Any:
    """feedback.routed, raw: the agent decodes the events itself."""
    return app.topic(FEEDBACK_ROUTED, key_serializer="raw", value_serializer="raw")


def sightings_topic(app: faust.App, *, partitions: int) -> Any:
    """The repartition (through) topic, `<app id>-sightings`: a sighting's key is its place
    and category, so every item about one place is counted by the one worker that owns that
    key's partition. faust makes it (internal), with as many partitions as the table."""
    return app.topic(
        f"{app.conf.id}-sightings",
        key_type=str,
        value_type=Sighting,
        key_serializer="raw",
        partitions=partitions,
        internal=True,
    )


def hotspots_topic(app: faust.App) -> Any:
    """feedback.hotspots, raw: the alerts are encoded as the other events are."""
    return app.topic(FEEDBACK_HOTSPOTS, key_serializer="raw", value_serializer="raw")


def mention_key(dimension: str, key: str) -> str:
    """The key of a category's, district's or place's mentions and of its trend."""
    return f"{dimension}|{key}"


def mentions_topic(app: faust.App, *, partitions: int) -> Any:
    """The surges' repartition topic, `<app id>-mentions`: every item of one category,
    district or place is counted by the worker that owns that key's partition."""
    return app.topic(
        f"{app.conf.id}-mentions",
        key_type=str,
        value_type=Mention,
        key_serializer="raw",
        partitions=partitions,
        internal=True,
    )
