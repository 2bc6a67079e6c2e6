"""The signals worker's table: one `Burst` per (place, category), backed by a changelog."""

from typing import Any

import faust

from services.signals.records import Burst

BURSTS = "bursts"


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
