"""Reading the whole log into the fold: every partition of every topic, from the beginning.

The metrics service joins no consumer group and commits nothing. On every start it folds the
log from its first record, so right after a restart the totals are the log's totals again;
replicas each fold everything and expose the same values (dashboards take the max across
instances, never the sum). Duplicates (a relay resending after a crash) are dropped by event
id in the fold.

A record the fold cannot take (a bug, or an event no contract check caught) is skipped and
counted, so one bad record never stops the figures. Anything else that fails starts the
reader again with backoff; until it reads again it is not `healthy`, and the service answers
503 rather than serve figures that have stopped moving.
"""

import logging
import threading
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from prometheus_client import Counter

from feedbackloop.events import InvalidEvent, decode
from feedbackloop.events.topics import (
    DEAD_LETTER,
    FEEDBACK_HOTSPOTS,
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
)
from services.metrics.fold import EventFold

log = logging.getLogger(__name__)

TOPICS = (FEEDBACK_RECEIVED, FEEDBACK_ROUTED, TICKET_EVENTS, FEEDBACK_HOTSPOTS, DEAD_LETTER)
#: Whose progress is the pipeline's consumer lag: (consumer group, the topic it reads).
PIPELINE_GROUPS = (
    ("feedbackloop-router", FEEDBACK_RECEIVED),
    ("feedbackloop-followup", FEEDBACK_ROUTED),
)


class LogReader:
    """Folds the log in a background thread until stopped."""

    def __init__(self, *, bootstrap: str, fold: EventFold, lag_interval: float = 10.0) -> None:
        self._bootstrap = bootstrap
        self._fold = fold
        self._lag_interval = lag_interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.folded = 0
        self.caught_up = False
        #: Why the reader is not reading right now (None while it is).
        self.failure: str | None = None
        self.skipped = 0
        self._skipped = Counter(
            "feedbackloop_metrics_unfoldable_records",
            "Records the metrics fold could not take and skipped (see the service's log).",
            registry=fold.registry,
        )
        # Where folding got to: a reconnect resumes here instead of folding records twice.
        self._positions: dict[TopicPartition, int] = {}

    def start(self) -> None:
        """Start folding."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="log-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in flight."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        """True while the reader thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def healthy(self) -> bool:
        """True while the reader thread runs and is not starting over after a failure."""
        return self.alive() and self.failure is None

    def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                self._read()
            except KafkaError as exc:  # the broker may be down for a while; keep trying
                log.warning("reading the log failed, retrying: %s", exc)
                self._stopping.wait(2.0)
            except Exception as exc:
                self.failure = type(exc).__name__
                log.exception("the log reader failed; starting it again in %.0f s", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _read(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id="feedbackloop-metrics",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        try:
            partitions = self._partitions(consumer)
            consumer.assign(partitions)
            for tp in partitions:
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
                else:
                    consumer.seek_to_beginning(tp)
            start_ends = consumer.end_offsets(partitions)
            next_lag = 0.0
            known = len(partitions)
            while not self._stopping.is_set():
                for tp, batch in consumer.poll(timeout_ms=500, max_records=2000).items():
                    for record in batch:
                        self._apply(record)
                        self.folded += 1
                        self._positions[tp] = record.offset + 1
                self.failure = None
                if not self.caught_up and all(
                    consumer.position(tp) >= end for tp, end in start_ends.items()
                ):
                    self.caught_up = True
                    log.info("metrics caught up with the log (%d records)", self.folded)
                if time.monotonic() >= next_lag:
                    next_lag = time.monotonic() + self._lag_interval
                    self._fold.lag = self._lag(consumer)
                    if len(self._partitions(consumer)) != known:
                        return  # partitions were added: start over with all of them
        finally:
            consumer.close()

    def _apply(self, record: Any) -> None:
        try:
            event = decode(record.value)
        except InvalidEvent:
            return  # producers dead-letter their own bad output; counting goes on
        try:
            self._fold.apply(event)
        except Exception as exc:
            # The kind of error and where, never the record (it may hold a citizen's words).
            log.error(
                "could not fold %s offset %d (%s): skipped",
                record.topic,
                record.offset,
                type(exc).__name__,
            )
            self.skipped += 1
            self._skipped.inc()

    @staticmethod
    def _partitions(consumer: KafkaConsumer) -> list[TopicPartition]:
        return [
            TopicPartition(topic, p)
            for topic in TOPICS
            for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]

    def _lag(self, consumer: KafkaConsumer) -> float | None:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self._bootstrap, client_id="feedbackloop-metrics"
            )
        except KafkaError:
            return None
        try:
            lag = 0
            for group, topic in PIPELINE_GROUPS:
                committed = admin.list_group_offsets(group).get(group, {})
                mine = [tp for tp in committed if tp.topic == topic]
                ends = consumer.end_offsets(mine) if mine else {}
                lag += sum(max(ends[tp] - committed[tp].offset, 0) for tp in mine)
            return float(lag)
        except KafkaError:
            return None
        finally:
            admin.close()
