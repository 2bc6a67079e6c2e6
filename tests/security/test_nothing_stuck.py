"""Nothing stuck, nothing silent: what no service may hang on or swallow (issue 15, item 8).

Each test is an attack (or an accident) on the running stack: a record the broker refuses for
good in intake's outbox, an event followup's store cannot hold, a reader that dies in metrics,
dead letters to replay. They run against the real broker and real service processes.
"""

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from sqlalchemy import func, select
from typer.testing import CliRunner

from feedbackloop.cli import app as cli
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess, Stack
from feedbackloop.events import DeadLetter, Envelope, Location, encode
from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import (
    CORE_TOPICS,
    DEAD_LETTER,
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
)
from feedbackloop.runtime.outbox import REFUSED_PREFIX
from feedbackloop.runtime.sql import create_store
from feedbackloop.runtime.topics import create_topics
from services.followup.models import AuditEntry, Ticket
from services.intake.database import create_store as create_intake_store
from services.intake.models import OutboxMessage as IntakeOutbox
from tests import factories
from tests.integration.conftest import PARTITIONS, find_events, free_port, metric, wait_for
from tests.security.own_intake import own_intake

pytestmark = pytest.mark.integration

#: A topic whose broker-side limit is far below what the producer allows.
SMALL_TOPIC = "nothing-stuck.small"


def letter_about(key: str, consumer: str) -> Any:
    def match(event: Envelope[Any]) -> bool:
        data = event.data
        return isinstance(data, DeadLetter) and data.key == key and data.consumer == consumer

    return match


def test_rows_the_broker_refuses_for_good_are_dead_lettered_and_the_relay_goes_on(
    kafka: LocalKafka, stack: Stack, tmp_path: Path
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics(
            [NewTopic(SMALL_TOPIC, 1, 1, topic_configs={"max.message.bytes": "2048"})]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    run = uuid.uuid4().hex[:8]
    refused = {
        # Larger than the producer's 1 MiB request limit: the client refuses it.
        f"huge-{run}": (FEEDBACK_RECEIVED, b'{"pad": "' + b"x" * 1_200_000 + b'"}'),
        # Within the client's limit, above the topic's: the broker refuses it.
        f"small-{run}": (SMALL_TOPIC, b'{"pad": "' + b"y" * 5000 + b'"}'),
        # A name Kafka forbids: no such topic can ever exist.
        f"badname-{run}": ("no such topic!", b"{}"),
    }
    with own_intake(stack, tmp_path) as intake:
        store = create_intake_store(f"sqlite:///{tmp_path / 'intake.db'}")
        with store.begin() as session:
            for key, (topic, payload) in refused.items():
                session.add(
                    IntakeOutbox(
                        event_id=key,
                        topic=topic,
                        key=key,
                        payload=payload,
                        created_at=datetime.now(UTC),
                    )
                )
        # Items accepted after them, through the API as usual.
        accepted = []
        for n in range(3):
            body = {"text": f"第{n}个诉求：幸福小区{run}的路灯坏了一个星期，晚上很黑。"}
            reply = httpx.post(f"{intake}/api/v1/feedback", json=body, timeout=10)
            assert reply.status_code == 201, reply.text
            accepted.append(reply.json()["ticket_id"])

        published = find_events(
            kafka.bootstrap, FEEDBACK_RECEIVED, lambda e: e.subject in accepted, count=3
        )
        assert {e.subject for e in published} == set(accepted)
        for key, (topic, _payload) in refused.items():
            (letter,) = find_events(
                kafka.bootstrap, DEAD_LETTER, letter_about(key, "feedbackloop-intake-relay")
            )
            assert letter.data.topic == topic
            assert letter.data.partition == -1 and letter.data.offset == -1
            reason = letter.data.error
            assert (
                ("illegal" in reason)
                if key.startswith("badname")
                else ("MessageSizeTooLarge" in reason)
            ), reason

        def marked() -> bool:
            with store() as session:
                rows = session.execute(select(IntakeOutbox)).scalars().all()
            by_id = {row.event_id: row for row in rows}
            return all(
                by_id[key].sent_at is not None and REFUSED_PREFIX + key in by_id for key in refused
            )

        # Each refused row is marked done, next to the letter saying why (never resent), and
        # nothing waits in the outbox any more.
        wait_for(marked, timeout=10, what="the refused rows to be marked")
        wait_for(
            lambda: httpx.get(f"{intake}/healthz", timeout=5).json()["outbox_pending"] == 0,
            timeout=10,
            what="an empty outbox",
        )


def ticket_no() -> str:
    """A ticket number no other test uses (node 7, a random sequence)."""
    return f"2612027{secrets.randbelow(10**7):07d}"


def routed_with(address: str, *, department: str = "urban") -> Envelope[Any]:
    item = factories.received(
        "幸福小区门口的路灯坏了一个星期，晚上很黑，请尽快修好。",
        ticket_no=ticket_no(),
        location=Location(address=address),
    )
    return factories.routed(item, department=department)


def send(bootstrap: str, topic: str, *events: Envelope[Any], partition: int = 0) -> None:
    """Publish events in this order onto one partition (so each is behind the one before)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for event in events:
            key = (event.subject or event.id).encode()
            producer.send(topic, key=key, value=encode(event), partition=partition)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    # A broker of its own: the followup started here reads feedback.routed from its start,
    # and must not answer the stack's traffic (nor add to it).
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("stuck-kafka"),
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout=120)
    create_topics(broker.bootstrap, list(CORE_TOPICS), partitions=PARTITIONS)
    yield broker
    broker.stop()


def test_an_event_followup_cannot_store_is_dead_lettered_and_the_next_becomes_a_ticket(
    own_kafka: LocalKafka, postgres_url: str, tmp_path: Path
) -> None:
    """A FeedbackRouted whose address has a NUL, to followup on PostgreSQL (any producer
    can write one: the router passes addresses through), then a good one behind it."""
    port = free_port()
    env = {
        **os.environ,
        "FEEDBACKLOOP_KAFKA_BOOTSTRAP": own_kafka.bootstrap,
        "FEEDBACKLOOP_TOPIC_PARTITIONS": str(PARTITIONS),
        "FEEDBACKLOOP_FOLLOWUP_DATABASE_URL": postgres_url,
        "FEEDBACKLOOP_FOLLOWUP_PORT": str(port),
        "FEEDBACKLOOP_FOLLOWUP_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    followup = ServiceProcess("followup", port, tmp_path / "followup.log")
    followup.start(env)
    try:
        followup.wait_healthy(deadline=time.monotonic() + 90)
        poisoned, good = routed_with("幸福小区\x003栋"), routed_with("幸福小区3栋")
        send(own_kafka.bootstrap, FEEDBACK_ROUTED, poisoned, good)

        store = create_store(postgres_url)

        def ticket(event: Envelope[Any]) -> Ticket | None:
            with store() as session:
                return session.get(Ticket, event.data.feedback.ticket_id)

        wait_for(lambda: ticket(good), timeout=60, what="the good item's ticket")
        (letter,) = find_events(
            own_kafka.bootstrap,
            DEAD_LETTER,
            letter_about(poisoned.data.feedback.ticket_id, "followup"),
        )
        assert letter.data.topic == FEEDBACK_ROUTED and letter.data.partition == 0
        assert letter.data.error.startswith("DataError"), letter.data.error
        assert "幸福小区" not in letter.data.error  # the reason quotes no citizen data
        assert ticket(poisoned) is None
        assert followup.alive()
        assert "幸福小区" not in followup.log_tail(400)  # nor does the log
    finally:
        followup.stop()


def test_a_reader_that_cannot_fold_a_record_skips_it_and_metrics_stays_current(
    kafka: LocalKafka, stack: Stack
) -> None:
    """A record that crashed the fold used to end metrics' reader: /metrics went on
    answering 200 with figures that never moved again."""
    metrics = stack.services["metrics"].url
    wait_for(
        lambda: httpx.get(f"{metrics}/metrics", timeout=5).status_code == 200,
        what="metrics to catch up",
    )
    department = f"ns{uuid.uuid4().hex[:10]}"
    poisoned = routed_with("幸福小区3栋", department=department)
    # A producer that wrote a time without a zone: the fold cannot subtract it.
    poisoned.data.__dict__["routed_at"] = datetime(2026, 12, 2, 3, 0)
    good = routed_with("幸福小区3栋", department=department)
    send(kafka.bootstrap, FEEDBACK_ROUTED, poisoned, good)

    labels = {"department": department}
    wait_for(
        lambda: (
            metric(metrics, "feedbackloop_pipeline_latency_seconds_count", {}) >= 1
            and metric(metrics, "feedbackloop_routed_by_rule_total", labels) == 2
        ),
        timeout=30,
        what="the record behind the bad one to be counted",
    )
    assert metric(metrics, "feedbackloop_metrics_unfoldable_records_total", {}) >= 1
    health = httpx.get(f"{metrics}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text


def test_dead_letters_are_listed_without_personal_data_and_replayed_once(
    kafka: LocalKafka, stack: Stack
) -> None:
    followup_store = create_store(f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}")
    phone = "13912345678"
    done = routed_with(f"幸福小区3栋 联系{phone}")  # its effect already happened
    pending = routed_with("幸福小区5栋")  # its effect did not
    send(kafka.bootstrap, FEEDBACK_ROUTED, done)

    def ticket(event: Envelope[Any]) -> Ticket | None:
        with followup_store() as session:
            return session.get(Ticket, event.data.feedback.ticket_id)

    wait_for(lambda: ticket(done), timeout=60, what="the first ticket")
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    for event in (done, pending):
        key, value = dead_letter(
            consumer="followup",
            topic=FEEDBACK_ROUTED,
            partition=0,
            offset=12345,
            key=event.data.feedback.ticket_id.encode(),
            value=encode(event),
            error="OperationalError (OperationalError): database is locked",
        )
        producer.send(DEAD_LETTER, key=key.encode(), value=value)
    producer.flush(timeout=30)
    producer.close(timeout=5)

    runner = CliRunner()
    listed = runner.invoke(cli, ["dlq", "list", "--bootstrap", kafka.bootstrap])
    assert listed.exit_code == 0, listed.output
    for event in (done, pending):
        assert f"event={event.id}" in listed.output
    assert "followup  feedback.routed[0]@12345" in listed.output
    assert "database is locked" in listed.output
    assert phone not in listed.output and "幸福小区" not in listed.output

    replayed = runner.invoke(
        cli,
        ["dlq", "replay", "--id", done.id, "--id", pending.id, "--bootstrap", kafka.bootstrap],
    )
    assert replayed.exit_code == 0, replayed.output
    assert "Replayed 2, skipped 0, failed 0." in replayed.output

    wait_for(lambda: ticket(pending), timeout=60, what="the replayed item's ticket")
    opened = find_events(
        kafka.bootstrap,
        TICKET_EVENTS,
        lambda e: e.subject == done.data.feedback.ticket_id and e.data.kind == "opened",
    )
    assert len(opened) == 1, "the replay opened the ticket a second time"
    with followup_store() as session:
        audit = session.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.ticket_id == done.data.feedback.ticket_id, AuditEntry.kind == "opened"
            )
        ).scalar_one()
    assert audit == 1  # (its clocks run fast on the stack: warnings and breaches add rows)


def test_sent_outbox_rows_are_pruned_after_the_retention(stack: Stack, tmp_path: Path) -> None:
    # 0.0001 days: 8.6 s.
    with own_intake(stack, tmp_path, FEEDBACKLOOP_INTAKE_OUTBOX_RETENTION_DAYS="0.0001") as url:
        body = {"text": "幸福小区的路灯坏了一个星期，晚上很黑，请尽快修好。"}
        reply = httpx.post(f"{url}/api/v1/feedback", json=body, timeout=10)
        assert reply.status_code == 201, reply.text
        store = create_intake_store(f"sqlite:///{tmp_path / 'intake.db'}")

        def rows() -> list[IntakeOutbox]:
            with store() as session:
                return list(session.execute(select(IntakeOutbox)).scalars())

        wait_for(lambda: rows() and all(r.sent_at for r in rows()), what="the row to be sent")
        wait_for(lambda: not rows(), timeout=60, what="the sent row to be pruned")
