"""Which outbox rows Kafka refuses for good, and what their dead letters say."""

import hashlib
import re
from typing import Any

from aiokafka.errors import (
    BrokerResponseError,
    CorruptRecordException,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)

#: Errors by which the broker refuses one record for good: its size, its topic's name or its
#: format. None is retriable; sending the record again gets the same answer. Other
#: non-retriable errors (authorisation, a closed producer) are about the set-up, not the
#: record: those rows wait for a fix.
REFUSALS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    CorruptRecordException,
    PolicyViolationError,
    UnsupportedForMessageFormatError,
)
#: The largest record handed to the broker (Kafka's default request limit); a larger one is
#: refused here, before it is sent.
MAX_RECORD_BYTES = 1024 * 1024
#: Topic names Kafka allows; a row for any other can never be delivered.
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
#: Event id prefix of the dead letter that a refused row becomes.
REFUSED_PREFIX = "refused/"


def refused_for_good(exc: BaseException | None) -> bool:
    """True if the broker will never take the record that failed with `exc`."""
    return isinstance(exc, REFUSALS) and not exc.retriable


def refusal_before_sending(row: Any) -> str | None:
    """Why the broker could never take this row, known before sending it; None if it might."""
    if not _LEGAL_TOPIC.fullmatch(row.topic):
        return (
            f"ValueError: topic name {row.topic[:249]!r} is illegal: Kafka allows up to 249 "
            "letters, digits, '.', '_' and '-'"
        )
    size = len(row.payload) + len(row.key.encode())
    if size > MAX_RECORD_BYTES:
        return (
            f"MessageSizeTooLargeError: the record is {size} bytes, larger than the "
            f"producer's limit of {MAX_RECORD_BYTES}"
        )
    return None


def letter_id(event_id: str) -> str:
    """The refused row's letter's event id; within the column's 64 characters."""
    letter_id = REFUSED_PREFIX + event_id
    if len(letter_id) <= 64:
        return letter_id
    return (
        REFUSED_PREFIX + hashlib.sha256(event_id.encode()).hexdigest()[: 64 - len(REFUSED_PREFIX)]
    )


def why_refused(exc: BaseException | None) -> str:
    """Why a record was refused, for the dead letter (the client's messages name sizes and
    topics, never a payload's contents)."""
    if isinstance(exc, BrokerResponseError) and not any(exc.args):
        return f"{type(exc).__name__}: refused by the broker: {exc.description}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
