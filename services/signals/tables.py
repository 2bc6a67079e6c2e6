"""The signals worker's table: one `Burst` per (place, category), backed by a changelog."""

from typing import Any

import faust

from services.signals.records import Burst, Trend

BURSTS = "bursts"
TRENDS = "trends"


def bursts_table(app: faust.App, *, partitions: int) -> Any:
    """The bursts table, co-partitioned with the sightings topic.

    Its changelog topic (`<app id>-bursts-changelog`) holds every change; a worker that
    starts, or takes over a partition, reads it back before it counts again.
    """
    return app.Table(
        BURSTS,
        key_type=str,
        value_type=Burst,
        partitions=partitions,
        help="Recent items and the last alert per place and category.",
    )


def trends_table(app: faust.App, *, partitions: int) -> Any:
    """The surges' table: one `Trend` per category, district and place, co-partitioned with
    the mentions topic; its changelog is `<app id>-trends-changelog`."""
    return app.Table(
        TRENDS,
        key_type=str,
        value_type=Trend,
        partitions=partitions,
        help="Hourly counts and the last hour's items per category, district and place.",
    )
