"""What metrics learns about the log beside folding it: where it ended, and who lags behind.

`LogWatch` runs next to the reader's consumer loop, on aiokafka's consumer and admin client:

- once, where the log ended when the reader started (`visible_ends`), so the reader knows
  when it has caught up: until then /metrics answers 503 rather than half-folded totals;
- every `interval`, the pipeline's consumer lag (`feedbackloop_consumer_lag_records`): per
  partition of the topics the router and followup read, how far their committed offsets are
  behind the records metrics has folded;
- every `interval`, the topics' partitions: one added since the loop started makes the reader
  start its loop again, which then assigns itself the new partition too.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED

log = logging.getLogger(__name__)

#: Whose progress is the pipeline's consumer lag: (consumer group, the topic it reads).
PIPELINE_GROUPS = (
    ("feedbackloop-router", FEEDBACK_RECEIVED),
    ("feedbackloop-followup", FEEDBACK_ROUTED),
)


class Aimed(Protocol):
    """What the watch needs of the fold's handler."""

    @property
    def positions(self) -> Mapping[TopicPartition, int]: ...
    def aim_at(self, ends: dict[TopicPartition, int]) -> None: ...


class LagHolder(Protocol):
    """Where the lag goes (the fold exports it at scrape time)."""

    lag: float | None


async def visible_ends(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    *,
    first_window: int = 2,
    timeout: float = 60.0,
) -> dict[TopicPartition, int]:
    """Per partition, the offset after its last record a read_committed reader sees now.

    A partition's end offset is not that: a transaction's commit marker, or records of an
    aborted one, may come after its last record, and the fold's position (the offset after
    the last record folded) never reaches them. So the last few offsets are read; where they
    hold no record, a window sixteen times larger, back to the partition's first offset.
    Partitions without any record are left out. Raises TimeoutError if the reads do not
    reach the ends in `timeout` seconds (the caller tries again).
    """
    if not partitions:
        return {}
    consumer.assign(list(partitions))
    begins = await consumer.beginning_offsets(list(partitions))
    ends = await consumer.end_offsets(list(partitions))
    found: dict[TopicPartition, int] = {}
    todo = [tp for tp in partitions if ends[tp] > begins[tp]]
    window = first_window
    deadline = asyncio.get_running_loop().time() + timeout
    while todo:
        starts = {tp: max(ends[tp] - window, begins[tp]) for tp in todo}
        for tp in todo:
            consumer.seek(tp, starts[tp])
        pending = set(todo)
        while pending:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(pending)} partitions not read to their end")
            fetched = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset < ends[tp]:
                        found[tp] = record.offset + 1
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        todo = [tp for tp in todo if tp not in found and starts[tp] > begins[tp]]
        window *= 16
    return found


async def pipeline_lag(
    admin: AIOKafkaAdminClient, folded: Mapping[TopicPartition, int]
) -> float | None:
    """Records the pipeline's consumer groups have not committed, of those metrics folded.

    Measured against the fold's positions, not the end offsets: those count transaction
    markers, which no consumer ever commits past record by record. While metrics is caught
    up the two are the same records; before, /metrics does not answer anyway.
    """
    lag = 0
    for group, topic in PIPELINE_GROUPS:
        committed = await admin.list_consumer_group_offsets(group)
        for tp, meta in committed.items():
            if tp.topic == topic and meta.offset >= 0:
                lag += max(folded.get(tp, 0) - meta.offset, 0)
    return float(lag)


async def topic_partitions(
    admin: AIOKafkaAdminClient, topics: Sequence[str]
) -> list[TopicPartition]:
    """Every partition of the topics that exist (a fresh metadata request)."""
    described = await admin.describe_topics(list(topics))
    return sorted(
        TopicPartition(topic["topic"], part["partition"])
        for topic in described
        if not topic["error_code"]
        for part in topic["partitions"]
    )


class LogWatch:
    """Learns where the log ended, exports the pipeline's lag, notices added partitions."""

    def __init__(
        self,
        *,
        bootstrap: str,
        client_id: str,
        topics: Sequence[str],
        handler: Aimed,
        fold: LagHolder,
        connected: Callable[[], bool],
        restart: Callable[[], Awaitable[None]],
        interval: float = 10.0,
    ) -> None:
        self._bootstrap = bootstrap.split(",")
        self._client_id = f"{client_id}-watch"
        self._topics = list(topics)
        self._handler = handler
        self._fold = fold
        self._connected = connected
        self._restart = restart
        self._interval = interval
        self._aimed = False

    async def run(self) -> None:
        """Watch until cancelled, connecting again (with a growing pause) after a failure."""
        pause = 1.0
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the lag is unknown until it answers
                self._fold.lag = None
                log.warning(
                    "watching the log failed, again in %.0f s: %s", pause, type(exc).__name__
                )
                await asyncio.sleep(pause)
                # At most one interval: /metrics waits for the first session's end offsets.
                pause = min(pause * 2, self._interval)

    async def _watch(self) -> None:
        probe = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._client_id)
        try:
            await probe.start()
            await admin.start()
            while not self._connected():
                # The loop makes the topics it reads; their partitions count once it has.
                await asyncio.sleep(self._interval / 20)
            known = await topic_partitions(admin, self._topics)
            if not self._aimed:
                self._handler.aim_at(await visible_ends(probe, known))
                self._aimed = True
            while True:
                try:
                    self._fold.lag = await pipeline_lag(admin, self._handler.positions)
                except KafkaError as exc:  # e.g. no group coordinator yet: unknown for now
                    self._fold.lag = None
                    log.warning("measuring the pipeline's lag failed: %s", type(exc).__name__)
                await asyncio.sleep(self._interval)
                now = await topic_partitions(admin, self._topics)
                if set(now) - set(known):
                    log.info(
                        "%d partitions were added; reading them too", len(set(now) - set(known))
                    )
                    await self._restart()
                known = now
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
            with contextlib.suppress(Exception):
                await probe.stop()
