"""Fixtures shared by the whole suite: a real PostgreSQL server and the real stack (a Kafka
broker and the four services), once per test run, and Debian's Chromium driven by Playwright
for the browser tests."""

import json
import re
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics
from tests.integration.conftest import HERE, PARTITIONS, free_port
from tests.robots import Robots, serving

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


# The real stack (a broker and the four services as processes), shared by tests/integration and
# tests/security: defined here so one session starts it once for both.
@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("kafka"),
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout=120)
    create_topics(broker.bootstrap, list(CORE_TOPICS), partitions=PARTITIONS)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def router_model() -> None:
    """The router's model, trained as `make` does when it is missing."""
    done = subprocess.run(
        [sys.executable, "-m", "feedbackloop", "router", "train", "--if-missing"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def duty_robot() -> Iterator[Robots]:
    """The operators on duty's group robot (值班群): the stack's 舆情预警 notices go there."""
    with serving() as robots:
        yield robots


@pytest.fixture(scope="session")
def stack(
    kafka: LocalKafka,
    router_model: None,
    duty_robot: Robots,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    settings = StackSettings(
        state_dir=tmp_path_factory.mktemp("stack"),
        kafka_port=kafka.port,
        topic_partitions=PARTITIONS,
        intake_port=free_port(),
        router_port=free_port(),
        followup_port=free_port(),
        metrics_port=free_port(),
        signals_port=free_port(),
    )
    running = Stack(
        settings=settings,
        bootstrap=kafka.bootstrap,
        extra_env={
            # The callback survey goes out right after a resolve, and clocks are looked at
            # often, so the full loop runs in seconds.
            "FEEDBACKLOOP_FOLLOWUP_SLA_POLICIES": str(HERE / "sla-survey-now.yaml"),
            "FEEDBACKLOOP_FOLLOWUP_CLOCK_INTERVAL_SECONDS": "0.2",
            # Every test's items come from 127.0.0.1; the per-IP limit has its own tests.
            "FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE": "100000",
            # Tests poll followup's status API from 127.0.0.1 too; the per-address lookup
            # limit is tested on an API replica of its own (tests/security/test_status_lookup.py).
            "FEEDBACKLOOP_FOLLOWUP_STATUS_LOOKUPS_PER_MINUTE": "100000",
            # Open311 lists and updates are polled from 127.0.0.1 too; their per-address limit
            # is tested in tests/intake/test_open311_lists.py.
            "FEEDBACKLOOP_INTAKE_OPEN311_READS_PER_MINUTE": "100000",
            "FEEDBACKLOOP_FOLLOWUP_STAFF_WEBHOOKS": json.dumps({"duty": f"{duty_robot.url}/duty"}),
        },
    )
    running.start(timeout=180)
    yield running
    running.stop()
