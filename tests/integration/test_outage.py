"""Nothing accepted is lost: intake keeps answering while Kafka is down, and publishes later."""

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.events import FeedbackReceived
from feedbackloop.events.topics import CORE_TOPICS, FEEDBACK_RECEIVED
from feedbackloop.runtime.topics import create_topics
from services.intake.credentials import Kind, create_credential
from services.intake.database import create_store
from tests.integration import channels
from tests.integration.conftest import PARTITIONS, find_events, free_port, wait_for

pytestmark = pytest.mark.integration

ITEMS = 200


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    # A broker of its own: stopping it must not disturb the other integration tests.
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("outage-kafka"),
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout=120)
    create_topics(broker.bootstrap, list(CORE_TOPICS), partitions=PARTITIONS)
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def intake(
    own_kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """Intake's URL, and the headers of a call centre registered with it."""
    state: Path = tmp_path_factory.mktemp("outage-intake")
    proc = ServiceProcess("intake", free_port(), state / "intake.log")
    env = dict(os.environ)
    env.update(
        {
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP": own_kafka.bootstrap,
            "FEEDBACKLOOP_INTAKE_PORT": str(proc.port),
            "FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{state / 'intake.db'}",
            "FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE": "100000",
            "FEEDBACKLOOP_INTAKE_READ_MODEL_ENABLED": "false",
        }
    )
    proc.start(env)
    proc.wait_healthy(deadline=time.monotonic() + 60)
    yield proc.url, call_centre(state / "intake.db")
    proc.stop()


def call_centre(intake_db: Path) -> dict[str, str]:
    """The Authorization header of a call centre registered in this intake's store."""
    with create_store(f"sqlite:///{intake_db}").begin() as session:
        token = create_credential(
            session=session, kind=Kind.HOTLINE, name="停电测试话务系统", now=datetime.now(UTC)
        )
    return {"Authorization": f"Bearer {token}"}


def test_items_accepted_while_kafka_is_down_arrive_exactly_once_when_it_is_back(
    own_kafka: LocalKafka, intake: tuple[str, dict[str, str]]
) -> None:
    """Stop Kafka, send 200 items through all five entry points, start it, count them."""
    own_kafka.stop()
    tickets: set[str] = set()
    url, headers = intake
    # The call centre's credential goes with every item; only the hotline asks for it.
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for n in range(ITEMS):
            tickets.add(channels.ALL[n % len(channels.ALL)](client, n))
        assert len(tickets) == ITEMS
        health = client.get("/healthz").json()
        assert health["outbox_pending"] == ITEMS
        assert health["kafka"] is False

        own_kafka.start(timeout=120)
        wait_for(
            lambda: client.get("/healthz").json()["outbox_pending"] == 0,
            timeout=120,
            what="the outbox to drain after Kafka came back",
        )

    events = find_events(
        own_kafka.bootstrap,
        FEEDBACK_RECEIVED,
        lambda e: isinstance(e.data, FeedbackReceived) and e.data.ticket_no in tickets,
        count=ITEMS,
    )
    per_ticket = Counter(e.data.ticket_no for e in events)
    per_entry_point = ITEMS // len(channels.ALL)
    expected = Counter({"web": 2 * per_entry_point, "wechat": per_entry_point})
    expected.update({"open311": per_entry_point, "hotline": per_entry_point})
    assert Counter(e.data.channel.value for e in events) == expected
    assert set(per_ticket) == tickets
    duplicated = {ticket: n for ticket, n in per_ticket.items() if n > 1}
    assert duplicated == {}, f"published more than once: {duplicated}"
    assert len({e.id for e in events}) == ITEMS
