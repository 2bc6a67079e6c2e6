"""Counting where accepted items ended up: department queues, ticket rows, metrics totals."""

from collections import Counter

import httpx
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from feedbackloop.events import FeedbackRouted, InvalidEvent, decode
from feedbackloop.events.topics import queue_topic
from feedbackloop.runtime.sql import create_store, engine_of
from services.followup.models import Ticket
from services.intake.models import TicketStatus
from services.router.config import DEFAULT_RULES
from services.router.rules import load_rule_table


def queued(
    bootstrap: str,
    records: dict[str, list[str]] | None = None,
    copies: Counter[str] | None = None,
) -> Counter[str]:
    """How many routing decisions (distinct event ids) each ticket number has across the
    departments' queues.

    The router publishes at least once: a crash between publishing a batch and committing it
    replays the batch, and its records come again with the same event ids, which consumers
    drop. With `copies`, counts such repeated records per ticket number.

    The dispatch desk's queue (triage, 人工分派) is not a department's: an item waits there
    until an operator assigns it. With `records`, also notes where each record sat and what
    it said, to explain a copy.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        desk = queue_topic(load_rule_table(DEFAULT_RULES).default_department)
        topics = [t for t in admin.list_topics() if t.startswith("queue.") and t != desk]
    finally:
        admin.close()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or []
        ]
        if not partitions:
            return counts
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                for record in batch:
                    try:
                        event = decode(record.value, expect=FeedbackRouted)
                    except InvalidEvent:
                        continue
                    ticket_no = event.data.feedback.ticket_no
                    if (ticket_no, event.id) in seen:
                        if copies is not None:
                            copies[ticket_no] += 1
                    else:
                        seen.add((ticket_no, event.id))
                        counts[ticket_no] += 1
                    if records is not None:
                        records.setdefault(ticket_no, []).append(
                            f"{record.topic}/{record.partition}@{record.offset} id={event.id} "
                            f"method={event.data.method.value} at={event.data.routed_at}"
                        )
    finally:
        consumer.close()
    return counts


def ticket_numbers(database_url: str, column: InstrumentedAttribute[str]) -> Counter[str]:
    """How many rows each ticket number has in one table's ticket-number column."""
    sessions = create_store(database_url)
    try:
        with sessions() as session:
            return Counter(session.execute(select(column)).scalars())
    finally:
        engine_of(sessions).dispose()


def ticket_rows(database_url: str) -> Counter[str]:
    """How many followup ticket rows each ticket number has."""
    return ticket_numbers(database_url, Ticket.ticket_no)


def status_rows(database_url: str) -> set[str]:
    """The ticket numbers intake's status read model holds."""
    return set(ticket_numbers(database_url, TicketStatus.ticket_no))


def received_totals(metrics_url: str) -> dict[str, float]:
    """feedbackloop_feedback_received_total per channel (empty while metrics catches up)."""
    reply = httpx.get(f"{metrics_url}/metrics", timeout=10)
    if reply.status_code != 200:
        return {}
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == "feedbackloop_feedback_received_total":
                channel = sample.labels["channel"]
                totals[channel] = totals.get(channel, 0.0) + sample.value
    return totals
