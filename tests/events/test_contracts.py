"""The event contracts: wire format, validation, versioning and documentation."""

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from feedbackloop.events import (
    FeedbackReceived,
    FeedbackRouted,
    InvalidEvent,
    decode,
    deterministic_event_id,
    encode,
)
from feedbackloop.events.codec import PAYLOAD_TYPES
from feedbackloop.events.envelope import Envelope
from feedbackloop.events.topics import CORE_TOPICS, queue_topic
from tests import factories


def test_an_event_survives_the_wire_unchanged() -> None:
    event = factories.routed()
    back = decode(encode(event))
    assert back == event
    assert isinstance(back.data, FeedbackRouted)
    assert back.data.feedback.text == event.data.feedback.text


def test_the_wire_format_is_a_cloudevents_style_json_envelope() -> None:
    wire = json.loads(encode(factories.received()))
    assert set(wire) >= {"id", "type", "source", "time", "specversion", "subject", "data"}
    assert wire["specversion"] == "1.0"
    assert wire["type"] == "feedbackloop.feedback.received.v1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "unknown event type"),
        (b'{"type": "feedbackloop.nope.v9"}', "unknown event type"),
        (b'{"type": "feedbackloop.feedback.received.v1", "data": {}}', "invalid"),
    ],
)
def test_bad_bytes_raise_invalid_event_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode(raw)


def test_decode_refuses_an_unexpected_type() -> None:
    with pytest.raises(InvalidEvent, match="expected"):
        decode(encode(factories.received()), expect=FeedbackRouted)


def test_every_type_name_carries_its_schema_version() -> None:
    for name in PAYLOAD_TYPES:
        assert name.rsplit(".", 1)[-1].startswith("v"), name


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for arg in getattr(field.annotation, "__args__", (field.annotation,)):
            inner = getattr(arg, "__args__", (arg,))
            for candidate in inner:
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    found += _models(candidate)
    return found


def test_every_field_of_every_contract_is_described() -> None:
    for root in [Envelope[FeedbackReceived], *PAYLOAD_TYPES.values()]:
        for model in _models(root):
            for name, field in model.model_fields.items():
                assert field.description, f"{model.__name__}.{name} has no description"


def test_derived_event_ids_are_stable_and_distinct() -> None:
    assert deterministic_event_id("a", "routed") == deterministic_event_id("a", "routed")
    assert deterministic_event_id("a", "routed") != deterministic_event_id("a", "opened")
    assert deterministic_event_id("a", "routed") != deterministic_event_id("b", "routed")


@given(st.text(), st.text())
def test_derived_event_ids_are_the_uuid5_they_always_were(cause: str, step: str) -> None:
    # Ids already on the topics must come out the same, or consumers stop dropping replays.
    namespace = uuid.UUID("6f1c2a4e-7d3b-5e8f-9a10-b2c3d4e5f607")
    expected = str(uuid.uuid5(namespace, f"{cause}/{step}"))
    assert deterministic_event_id(cause, step) == expected


def test_queue_topics_are_named_from_department_codes() -> None:
    assert queue_topic("water") == "queue.water"
    assert "feedback.received" in CORE_TOPICS
    for bad in ["", "Water", "水务", "a b", "x" * 60]:
        with pytest.raises(ValueError):
            queue_topic(bad)


def test_readers_ignore_fields_a_newer_writer_added() -> None:
    # The schema policy: an optional field is added in place, before every reader knows it.
    event = factories.received()
    wire = json.loads(encode(event))
    wire["data"]["surprise"] = 1
    wire["data"]["contact"] = {"callback_consent": False, "new_channel_id": "x"}
    wire["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    raw = json.dumps(wire).encode()
    for back in (decode(raw), decode(raw, expect=FeedbackReceived)):
        assert back.id == event.id
        assert back.data.ticket_no == event.data.ticket_no
        assert back.data.contact is not None and not back.data.contact.callback_consent
        assert "surprise" not in back.data.model_dump()
        assert "traceparent" not in json.loads(encode(back))


def test_decode_with_an_expected_type_says_why_it_refuses() -> None:
    # The fast path (pydantic straight from JSON) must not accept what the full path refuses.
    good = json.loads(encode(factories.received()))
    renamed = dict(good, type="feedbackloop.nope.v9")
    with pytest.raises(InvalidEvent, match="unknown event type"):
        decode(json.dumps(renamed).encode(), expect=FeedbackReceived)
    broken = dict(good, data=dict(good["data"], ticket_no=None))
    with pytest.raises(InvalidEvent, match=r"invalid .*ticket_no"):
        decode(json.dumps(broken).encode(), expect=FeedbackReceived)
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode(b"\xff\xfe", expect=FeedbackReceived)
    assert decode(json.dumps(good).encode(), expect=FeedbackReceived).data.ticket_no
