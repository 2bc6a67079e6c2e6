"""The CloudEvents-style envelope every event travels in."""

import functools
import hashlib
import uuid
from datetime import UTC, datetime
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

DataT = TypeVar("DataT", bound=BaseModel)

# A fixed namespace so that a derived event id is the same in every process and every run.
_EVENT_NAMESPACE = uuid.UUID("6f1c2a4e-7d3b-5e8f-9a10-b2c3d4e5f607")


class Payload(BaseModel):
    """Base of every payload model and of the models inside one.

    Readers ignore fields they do not know (the schema policy in
    :mod:`feedbackloop.events.codec`): a writer may add an optional field before every
    reader knows it.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    #: The versioned type name a payload travels under (top-level payloads only).
    EVENT_TYPE: ClassVar[str]


class Envelope(BaseModel, Generic[DataT]):
    """One event on the wire: metadata plus a typed, versioned payload."""

    # CloudEvents lets producers add extension attributes; readers skip those they do not know.
    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = Field(
        default="1.0", description="CloudEvents specification version of this envelope."
    )
    id: str = Field(
        description="Unique event id; consumers drop a second event with the same id.",
        min_length=1,
        max_length=64,
    )
    type: str = Field(
        description="Event type with its schema version, e.g. 'feedbackloop.feedback.received.v1'."
    )
    source: str = Field(description="The service that produced the event, e.g. '/intake'.")
    subject: str = Field(description="The ticket id the event is about; also the Kafka key.")
    time: datetime = Field(description="When the event was produced (UTC, ISO 8601).")
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="Media type of `data`."
    )
    data: DataT = Field(description="The payload; its model is chosen by `type`.")


@functools.cache
def envelope_type(model: type[DataT]) -> type[Envelope[DataT]]:
    """The envelope class for one payload model.

    Made once per model: pydantic looks a parametrised class up by a key it computes on
    every `Envelope[...]`, which cost more than validating the envelope.
    """
    return Envelope[model]  # type: ignore[valid-type]


def new_event(
    *,
    data: DataT,
    source: str,
    subject: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Envelope[DataT]:
    """Wrap a payload in an envelope, with a fresh id unless one is given."""
    return envelope_type(type(data))(
        id=event_id or str(uuid.uuid4()),
        type=data.EVENT_TYPE,  # type: ignore[attr-defined]
        source=source,
        subject=subject,
        time=time or datetime.now(UTC),
        data=data,
    )


_NAMESPACE_BYTES = _EVENT_NAMESPACE.bytes


def deterministic_event_id(cause_id: str, step: str) -> str:
    """Derive the id of an event caused by another, so re-processing yields the same id.

    It is `uuid.uuid5(namespace, "<cause>/<step>")`, computed without the UUID object (a
    router derives one per item; this is a quarter of the time).
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{cause_id}/{step}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
