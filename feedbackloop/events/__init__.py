"""Event contracts shared by every service: the only code services have in common.

Services never import each other; they agree on these models, the topic names in
:mod:`feedbackloop.events.topics` and the wire format in :mod:`feedbackloop.events.codec`.
Every event type name ends in its schema version (``.v1``). Readers ignore fields they do
not know, so an optional field is added in place; a breaking change adds a new type next to
the old one instead of changing it (the schema policy: docs/events.md and the codec).
"""

from feedbackloop.events.codec import InvalidEvent, decode, encode
from feedbackloop.events.envelope import Envelope, deterministic_event_id, new_event
from feedbackloop.events.feedback import (
    Attachment,
    Candidate,
    Channel,
    Contact,
    CoUnit,
    DirectAnswer,
    FeedbackReceived,
    FeedbackRouted,
    HotspotDetected,
    Location,
    Priority,
    RequestType,
    RoutingMethod,
)
from feedbackloop.events.tickets import (
    DeadLetter,
    Publication,
    TicketEvent,
    TicketEventKind,
    TicketState,
)
from feedbackloop.events.warnings import SurgeDetected, SurgeDimension

__all__ = [
    "Attachment",
    "Candidate",
    "Channel",
    "CoUnit",
    "Contact",
    "DeadLetter",
    "DirectAnswer",
    "Envelope",
    "FeedbackReceived",
    "FeedbackRouted",
    "HotspotDetected",
    "InvalidEvent",
    "Location",
    "Priority",
    "Publication",
    "RequestType",
    "RoutingMethod",
    "SurgeDetected",
    "SurgeDimension",
    "TicketEvent",
    "TicketEventKind",
    "TicketState",
    "decode",
    "deterministic_event_id",
    "encode",
    "new_event",
]
