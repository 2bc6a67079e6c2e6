"""The records the signals worker passes between its agents and keeps in its table."""

import faust


class Sighting(faust.Record, serializer="json"):
    """An item that names a place, on its way to the partition that counts that place."""

    place: str
    category: str
    ticket_no: str
    #: When intake accepted the item (POSIX seconds): bursts are counted in item time.
    at: float


class Burst(faust.Record, serializer="json"):
    """The recent items about one (place, category), and the alert of the last burst."""

    #: Arrival times (POSIX seconds) and ticket numbers of the items in the window, by time.
    at: list[float]
    ticket_nos: list[str]
    #: The repartition topic's partition this key lives in: stale keys are swept while an
    #: event of that partition is processed, the only time faust lets its changelog be written.
    partition: int = -1
    #: The ticket that completed the last burst, when it arrived, and the burst's tickets:
    #: a redelivery of that ticket sends the same alert again, with the same event id.
    fired_by: str | None = None
    fired_at: float | None = None
    fired_first: float | None = None
    fired_nos: list[str] | None = None


class Trend(faust.Record, serializer="json"):
    """A key's (category, district or place) hourly counts, and the items of its last hour."""

    #: Items per hour of item time (POSIX hour number as text: JSON keys are strings), for
    #: the baseline's weeks and the current hour.
    bins: dict[str, int]
    #: Arrival times, ticket numbers and tone of the items of the last hour, by time.
    at: list[float]
    ticket_nos: list[str]
    heated: list[bool]
    #: The key's first item (POSIX seconds): weeks before it are not part of the baseline.
    first_at: float | None = None
    #: The table partition this key lives in (see `Burst.partition`).
    partition: int = -1
    #: When the key last alerted: it alerts once an hour at most.
    fired_at: float | None = None


class Mention(faust.Record, serializer="json"):
    """An item counted under one key (category, district or place) of the surge table."""

    dimension: str
    key: str
    ticket_no: str
    at: float
    heated: bool
