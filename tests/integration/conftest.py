"""A real Kafka broker and the four services as real processes, once per test run."""

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.events import Envelope, InvalidEvent, decode
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics

PARTITIONS = 3
HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float = 60, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def find_events(
    bootstrap: str,
    topic: str,
    match: Callable[[Envelope[Any]], bool],
    *,
    count: int = 1,
    timeout: float = 60,
) -> list[Envelope[Any]]:
    """Read a topic from the start (committed records only) until `count` events match.

    Once enough have matched it reads on to the current end of the log, so a duplicate that
    sits after the first copies is returned too and the caller can count it.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: list[Envelope[Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    try:
                        event = decode(record.value)
                    except InvalidEvent:
                        continue
                    if match(event):
                        found.append(event)
            if len(found) >= count and _at_end(consumer, partitions):
                return found
        raise AssertionError(f"found {len(found)} of {count} matching events on {topic}")
    finally:
        consumer.close()


def _at_end(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
    ends = consumer.end_offsets(partitions)
    return all(consumer.position(tp) >= ends[tp] for tp in partitions)


def metric(url: str, name: str, labels: dict[str, str]) -> float:
    """The current value of one sample on a /metrics page (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of its own with 6 partitions a topic, for runs that kill it or scale out."""
    kafka = LocalKafka(
        home=tmp_path / "kafka",
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    kafka.start(timeout=120)
    create_topics(kafka.bootstrap, list(CORE_TOPICS), partitions=6)
    yield kafka
    kafka.stop()


def fleet_env(bootstrap: str, postgres: LocalPostgres, name: str) -> dict[str, str]:
    """The environment of a fleet on PostgreSQL stores (one database per service)."""
    env = dict(os.environ)
    env.update(
        {
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP": bootstrap,
            "FEEDBACKLOOP_TOPIC_PARTITIONS": "6",
            "FEEDBACKLOOP_ROUTER_MODEL_DIR": str(StackSettings().router_model_dir.resolve()),
            "FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE": "1000000",
            "FEEDBACKLOOP_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for service in ("intake", "router", "followup"):
        url = postgres.create_database(f"{name}_{service}")
        env[f"FEEDBACKLOOP_{service.upper()}_DATABASE_URL"] = url
    return env


def call_centre_token(intake_database_url: str, name: str = "测试话务系统") -> str:
    """A new call-centre credential in an intake's store (as `feedbackloop intake
    add-credential` makes one); its token."""
    from datetime import UTC, datetime

    from services.intake.credentials import Kind, create_credential
    from services.intake.database import create_store

    with create_store(intake_database_url).begin() as session:
        return create_credential(
            session=session, kind=Kind.HOTLINE, name=name, now=datetime.now(UTC)
        )
