"""Every published event schema against its committed snapshot, judged by the schema policy.

A difference fails with the policy's rule for it: a change allowed in place is recorded with
`pytest tests/events --snapshot-update` (or FEEDBACKLOOP_SNAPSHOT_UPDATE=1); a breaking one
cannot be recorded, it needs a new versioned type.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from feedbackloop.events.codec import PAYLOAD_TYPES
from feedbackloop.events.compatibility import Level, compare, explain, worst
from feedbackloop.events.envelope import envelope_type

SNAPSHOTS = Path(__file__).with_name("snapshots")


def published_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of the whole event (envelope and payload) of one type."""
    return envelope_type(PAYLOAD_TYPES[event_type]).model_json_schema()


def _write(path: Path, schema: dict[str, Any]) -> None:
    path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@pytest.mark.parametrize("event_type", sorted(PAYLOAD_TYPES))
def test_a_published_schema_changes_only_as_the_policy_allows(
    event_type: str, snapshot_update: bool
) -> None:
    current = published_schema(event_type)
    path = SNAPSHOTS / f"{event_type}.json"
    if not path.exists():
        if snapshot_update:
            _write(path, current)
            return
        pytest.fail(
            f"{event_type} is a new event type without a snapshot: record it with "
            "`pytest tests/events --snapshot-update`"
        )
    recorded = json.loads(path.read_text(encoding="utf-8"))
    changes = compare(recorded, current)
    if not changes:
        assert recorded == current, f"{event_type}: a difference the checker does not know"
        return
    level = worst(changes)
    assert level is not None
    if snapshot_update and level < Level.BREAKING:
        _write(path, current)
        return
    how = (
        "record it with `pytest tests/events --snapshot-update`"
        if level < Level.BREAKING
        else "the snapshot cannot take it"
    )
    pytest.fail(f"{event_type} differs from its snapshot ({how}):\n{explain(changes)}")


def test_every_snapshot_is_of_a_published_type() -> None:
    # A type dropped from the codec strands its events on the topics: readers must keep
    # decoding it until no topic holds one, then its snapshot goes with it.
    recorded = {path.stem for path in SNAPSHOTS.glob("*.json")}
    assert recorded - set(PAYLOAD_TYPES) == set(), "types no longer decoded"


def test_the_checker_finds_no_change_in_a_schema_itself() -> None:
    for event_type in PAYLOAD_TYPES:
        schema = published_schema(event_type)
        assert compare(schema, schema) == [], event_type
