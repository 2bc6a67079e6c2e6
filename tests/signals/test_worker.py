"""The signals worker on the real broker, run by faust's Worker as `feedbackloop serve signals`:
its table survives a SIGKILL (read back from the changelog), and an alert goes out once."""

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.events import (
    Envelope,
    FeedbackRouted,
    HotspotDetected,
    SurgeDetected,
    encode,
    new_event,
)
from feedbackloop.events.topics import FEEDBACK_HOTSPOTS, FEEDBACK_ROUTED
from services.signals.app import create_topics
from services.signals.config import Settings
from tests import factories
from tests.integration.conftest import PARTITIONS, find_events, free_port, metric, wait_for
from tests.signals.alerts import alerts_sent, burst_tickets

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def routed_about(place: str, n: int, at: datetime) -> Envelope[FeedbackRouted]:
    """A routed item of category 城乡建设 naming a place."""
    item = factories.received(
        f"{place}{n}号楼门口的路灯坏了好几天了",
        ticket_no=f"9{uuid.uuid4().int % 10**12:012d}",
        received_at=at,
    )
    event = factories.routed(item)
    data = event.data.model_copy(update={"category": "城乡建设"})
    return new_event(data=data, source="/router", subject=event.subject, event_id=event.id)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker of its own: the session's broker holds the whole suite's routed items, which
    a worker in a new group would count through first."""
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("signals") / "kafka",
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout=120)
    yield broker
    broker.stop()


@pytest.fixture
def worker(kafka: LocalKafka, tmp_path: Path) -> Iterator[ServiceProcess]:
    """One signals worker in a consumer group of its own, on a broker of its own."""
    proc = ServiceProcess("signals", free_port(), tmp_path / "signals.log")
    env = dict(os.environ)
    env.update(
        {
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "FEEDBACKLOOP_TOPIC_PARTITIONS": str(PARTITIONS),
            "FEEDBACKLOOP_SIGNALS_APP_ID": f"signals-test-{uuid.uuid4().hex[:8]}",
            "FEEDBACKLOOP_SIGNALS_PORT": str(proc.port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    proc.env = env  # type: ignore[attr-defined]
    proc.start(env)
    yield proc
    proc.stop()


def _counting(proc: ServiceProcess) -> bool:
    """Healthy, and holding the sightings' partitions (the table is recovered by then)."""
    try:
        health = httpx.get(f"{proc.url}/healthz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    owned = [p for p in health["partitions"] if p.split(":")[0].endswith("-sightings")]
    return len(owned) == PARTITIONS and not health["rebalancing"]


def test_a_burst_counts_on_across_a_kill_and_alerts_once(
    kafka: LocalKafka, worker: ServiceProcess
) -> None:
    wait_for(lambda: _counting(worker), timeout=120, what="the worker to own its partitions")
    place = f"试验{uuid.uuid4().hex[:6]}小区"
    now = datetime.now(UTC)
    items = [routed_about(place, n, now + timedelta(minutes=n)) for n in range(6)]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")

    def send(events: list[Envelope[FeedbackRouted]]) -> None:
        for event in events:
            producer.send(FEEDBACK_ROUTED, key=event.subject.encode(), value=encode(event))
        producer.flush()

    def counted() -> float:
        return metric(worker.url, "feedbackloop_signals_counted_total", {})

    send(items[:4])
    wait_for(lambda: counted() == 4, timeout=60, what="four items counted")
    worker.stop(kill=True)
    worker.start(worker.env)  # type: ignore[attr-defined]
    wait_for(lambda: _counting(worker), timeout=120, what="the restarted worker to own them")
    send(items[4:5])
    keep = place.__eq__
    wait_for(lambda: alerts_sent(kafka.bootstrap, keep=keep)[0], timeout=60, what="an alert")
    # One more item of the same burst: counted (the changelog has it), and no second alert.
    send(items[5:])
    app_id = worker.env["FEEDBACKLOOP_SIGNALS_APP_ID"]  # type: ignore[attr-defined]
    six = [e.data.feedback.ticket_no for e in items]
    wait_for(
        lambda: burst_tickets(kafka.bootstrap, app_id, f"城乡建设|{place}") == six,
        timeout=60,
        what="the six items in the table's changelog",
    )
    alerts, repeats = alerts_sent(kafka.bootstrap, keep=keep)
    assert alerts == {(place, "城乡建设"): 1}
    assert repeats == 0  # nothing crashed after the alert: it was sent once
    (alert,) = find_events(
        kafka.bootstrap,
        FEEDBACK_HOTSPOTS,
        lambda e: isinstance(e.data, HotspotDetected) and e.data.place == place,
    )
    assert alert.data.ticket_nos == six[:5]
    # Six items about a place nobody wrote about, within six minutes: also a surge (舆情预警),
    # counted across the kill too (the trends table's changelog), and sent once.
    surges = find_events(
        kafka.bootstrap,
        FEEDBACK_HOTSPOTS,
        lambda e: isinstance(e.data, SurgeDetected) and e.data.key == place,
    )
    assert [(s.data.dimension, s.data.count, s.data.ticket_nos) for s in surges] == [
        ("place", 6, six)
    ]
    assert metric(worker.url, "feedbackloop_signals_surges_total", {"dimension": "place"}) == 1
    producer.close()


def test_the_changelog_exists_compacted_before_a_worker_starts(kafka: LocalKafka) -> None:
    """Two workers starting at once: the second saw a changelog with no partitions and stopped
    (faust's PartitionsMismatch), so the topics are made before faust runs."""
    app_id = f"signals-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap=kafka.bootstrap, topic_partitions=PARTITIONS, app_id=app_id)
    create_topics(settings)
    changelog = f"{app_id}-bursts-changelog"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        (described,) = admin.describe_topics([changelog])
        assert len(described["partitions"]) == PARTITIONS
        assert len(admin.describe_topics([f"{app_id}-sightings"])[0]["partitions"]) == PARTITIONS
        described_configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, changelog)]
        )
        assert described_configs["topic"][changelog]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()
