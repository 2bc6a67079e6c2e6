"""JSON wire format of events: bytes <-> typed envelopes, and the schema policy they follow.

Schema policy (docs/events.md; `feedbackloop.events.compatibility` sorts a change into it,
and tests/events/test_schemas.py holds every published schema against a snapshot):

- Readers tolerate unknown fields within a version: envelopes and payloads ignore them.
- Adding an optional field (with a default) is a minor change, made in place in the same
  version; so is anything that only documents.
- Widening what readers accept (a new enum value, a looser limit, null or absence allowed)
  is made in place too, but every reader is deployed before any writer sends it.
- Removing, renaming or retyping a field, making one required, or tightening a limit bumps
  the version: a new type name (``...v2``) registered in `PAYLOAD_TYPES` next to the old,
  both decoded while any topic still holds the old one.
- Every field has a description.
"""

import contextlib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from feedbackloop.events.envelope import Envelope, envelope_type
from feedbackloop.events.feedback import FeedbackReceived, FeedbackRouted, HotspotDetected
from feedbackloop.events.tickets import DeadLetter, TicketEvent
from feedbackloop.events.warnings import SurgeDetected

#: Every payload model by its versioned type name.
PAYLOAD_TYPES: dict[str, type[BaseModel]] = {
    model.EVENT_TYPE: model
    for model in (
        FeedbackReceived,
        FeedbackRouted,
        HotspotDetected,
        SurgeDetected,
        TicketEvent,
        DeadLetter,
    )
}

MAX_EVENT_BYTES = 1_000_000


class InvalidEvent(ValueError):
    """Bytes that are not a valid event of a known type; goes to the dead-letter topic."""


def encode(event: Envelope[Any]) -> bytes:
    """Serialise an envelope to compact UTF-8 JSON."""
    return event.model_dump_json().encode()


def decode(raw: bytes | str | None, *, expect: type[BaseModel] | None = None) -> Envelope[Any]:
    """Parse bytes into a typed envelope, or raise InvalidEvent saying why."""
    if raw is None:
        raise InvalidEvent("empty message (tombstone)")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"message of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}")
    if expect is not None:
        # The usual case, straight from JSON in pydantic's parser (half the time of loading
        # the JSON first); anything it refuses takes the path below, which says why.
        with contextlib.suppress(ValidationError):
            event = envelope_type(expect).model_validate_json(raw)
            if event.type == expect.EVENT_TYPE:  # type: ignore[attr-defined]
                return event
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    event_type = value.get("type") if isinstance(value, dict) else None
    model = PAYLOAD_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise InvalidEvent(f"unknown event type {event_type!r}")
    if expect is not None and model is not expect:
        raise InvalidEvent(f"expected {expect.EVENT_TYPE}, got {event_type}")  # type: ignore[attr-defined]
    try:
        return envelope_type(model).model_validate(value)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {event_type}: {exc.errors(include_url=False)}") from exc
