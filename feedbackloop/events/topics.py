"""Kafka topic names: the one place they are spelled."""

import re

FEEDBACK_RECEIVED = "feedback.received"
FEEDBACK_ROUTED = "feedback.routed"
TICKET_EVENTS = "ticket.events"
DEAD_LETTER = "feedback.dlq"
FEEDBACK_HOTSPOTS = "feedback.hotspots"

#: Topics the platform needs before any service starts; queue topics come from the routing table.
CORE_TOPICS: tuple[str, ...] = (
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
    DEAD_LETTER,
    FEEDBACK_HOTSPOTS,
)

QUEUE_PREFIX = "queue."
_DEPARTMENT_CODE = re.compile(r"^[a-z][a-z0-9_-]{1,47}$")


def queue_topic(department_code: str) -> str:
    """Return the name of a department's work queue topic, e.g. ``queue.water``."""
    if not _DEPARTMENT_CODE.match(department_code):
        raise ValueError(
            f"department code {department_code!r} must be 2-48 lower-case ASCII letters, "
            "digits, '_' or '-', starting with a letter"
        )
    return QUEUE_PREFIX + department_code
