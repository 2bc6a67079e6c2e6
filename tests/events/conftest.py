"""`--snapshot-update` (or FEEDBACKLOOP_SNAPSHOT_UPDATE=1): rewrite the event schema snapshots.

Only changes the schema policy allows in place are written; a breaking one still fails.
"""

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="Rewrite tests/events/snapshots for changes the schema policy allows in place.",
    )


@pytest.fixture
def snapshot_update(request: pytest.FixtureRequest) -> bool:
    """Whether this run may rewrite the snapshots."""
    return bool(request.config.getoption("--snapshot-update", default=False)) or (
        os.environ.get("FEEDBACKLOOP_SNAPSHOT_UPDATE", "") not in ("", "0")
    )
