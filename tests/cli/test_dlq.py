"""`feedbackloop dlq`: what a listed reason may show, and which letters a replay skips."""

from datetime import UTC, datetime

from feedbackloop.cli.dlq import Letter, _why_not, masked
from feedbackloop.events import DeadLetter, encode
from feedbackloop.events.topics import DEAD_LETTER, FEEDBACK_ROUTED
from tests import factories


def letter(value: str, topic: str = FEEDBACK_ROUTED) -> Letter:
    data = DeadLetter(
        consumer="followup",
        topic=topic,
        partition=0,
        offset=3,
        key="t",
        value=value,
        error="boom",
        failed_at=datetime.now(UTC),
    )
    return Letter(id="letter-1", partition=0, offset=9, data=data)


def test_a_reason_shows_no_quoted_input_and_no_phone_number() -> None:
    reason = (
        "invalid feedbackloop.feedback.routed.v1: [{'type': 'string_too_long', "
        "'loc': ('data', 'title'), 'msg': 'too long', 'input': '我家电话13912345678，快来'}]"
    )
    shown = masked(reason)
    assert "13912345678" not in shown and "我家电话" not in shown
    assert "string_too_long" in shown and "'input': …" in shown
    assert masked("call 13912345678 now") == "call 139… now"
    assert len(masked("x" * 500)) == 160


def test_a_letter_holding_a_whole_event_is_replayable_and_its_event_id_known() -> None:
    event = factories.routed()
    good = letter(encode(event).decode())
    assert _why_not(good) is None and good.event_id == event.id


def test_truncated_records_and_letters_about_letters_are_not_replayed() -> None:
    truncated = letter(encode(factories.routed()).decode()[:200])
    assert "no whole event" in (_why_not(truncated) or "")
    assert truncated.event_id is None
    assert "feedback.dlq itself" in (_why_not(letter("{}", topic=DEAD_LETTER)) or "")
