"""Dead letters: a message a consumer could not process, parked with the reason."""

from datetime import UTC, datetime

from feedbackloop.events.codec import encode
from feedbackloop.events.envelope import new_event
from feedbackloop.events.tickets import DeadLetter


def dead_letter(
    *,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
) -> tuple[str, bytes]:
    """The key and encoded DeadLetter event for a message that could not be processed."""
    letter = DeadLetter(
        consumer=consumer,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode(errors="replace") if key else None,
        value=(value or b"").decode(errors="replace")[:100_000],
        error=error[:2000],
        failed_at=datetime.now(UTC),
    )
    subject = letter.key or f"{topic}-{partition}-{offset}"
    return subject, encode(new_event(data=letter, source=f"/{consumer}", subject=subject))
