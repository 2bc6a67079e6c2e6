"""Folding the whole log once, outside the service: what `feedbackloop report --month` reads.

The metrics service folds the log as it grows; a monthly report run from a terminal folds the
same topics from the beginning to where they end now, with the same `EventFold`, so the
report and the league table's month view cannot disagree on the counts. The public report's
volumes and deadlines (`MonthlyFigures`) are fed the envelopes the fold took, in the same pass.
"""

import logging
from typing import Any

from feedbackloop.events import Envelope, InvalidEvent, decode
from services.metrics.fold import EventFold
from services.metrics.monthly_figures import MonthlyFigures
from services.metrics.reader import TOPICS

log = logging.getLogger(__name__)


def fold_log(
    bootstrap: str, *, dedup_window: int = 200_000, figures: MonthlyFigures | None = None
) -> EventFold:
    """Every committed record of the metrics topics, folded in the order read (also into
    `figures`, if given, each event the fold had not seen)."""
    from kafka import KafkaConsumer, TopicPartition

    fold = EventFold(dedup_window=dedup_window)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="feedbackloop-report",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    skipped = 0
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in TOPICS
            for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not partitions:
            return fold
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for record in batch:
                    try:
                        event: Envelope[Any] = decode(record.value)
                    except InvalidEvent:
                        continue  # the producers dead-letter their own bad output
                    try:
                        if fold.apply(event) and figures is not None:
                            figures.apply(event)
                    except Exception as exc:
                        # As the service does: the kind of error, never the record's content.
                        log.error(
                            "could not fold %s[%d] offset %d (%s): skipped",
                            record.topic,
                            record.partition,
                            record.offset,
                            type(exc).__name__,
                        )
                        skipped += 1
    finally:
        consumer.close()
    if skipped:
        log.warning("%d records could not be folded", skipped)
    return fold
