"""Fixtures shared by the whole suite: a real PostgreSQL server, once per test run, and
Debian's Chromium driven by Playwright for the browser tests."""

import re
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from feedbackloop.devstack.postgres import LocalPostgres

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """Debian's PostgreSQL on 127.0.0.1, in a directory of its own; fails if it cannot start."""
    # Not under tmp_path_factory: pytest's base directory is private to its user (mode 0700),
    # and as root the server runs as `postgres`, which must be able to reach its directory.
    with tempfile.TemporaryDirectory(prefix="feedbackloop-postgres-") as home:
        server = LocalPostgres(home=Path(home), port=_free_loopback_port())
        server.start(timeout=60)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def postgres_url(postgres: LocalPostgres, request: pytest.FixtureRequest) -> str:
    """The SQLAlchemy URL of a new, empty database for this test alone."""
    prefix = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    return postgres.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Debian's Chromium (never a downloaded one), headless, for one test module.

    Module scope: while Playwright's sync API runs, the main thread has an event loop
    running, which other tests' `asyncio.run` would trip over.
    """
    from tests.browser.support import launch_chromium

    with launch_chromium() as chromium:
        yield chromium
