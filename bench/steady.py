"""A steady load: items offered at a fixed rate for a fixed time, and their latency to the
department queue.

The day's plan is replayed with its items evenly spaced (`--rate` a second for `--duration`
seconds) through intake's real channels. A watcher in this process reads every `queue.<dept>`
topic (committed records only) as the records arrive; an item's latency is from intake's
acceptance (the `received_at` intake stamped) to the moment its record could be read from its
department's queue. The loop kept up when intake took every item on time and every accepted
item reached its queue within the grace period after the last offer.

    .venv/bin/python -m bench.e2e --rate 500 [--duration 60]
"""

import argparse
import asyncio
import dataclasses
import math
import threading
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from bench.stack import percentile, pipeline
from feedbackloop.cli.simulate import DEV_WECHAT_TOKEN
from feedbackloop.devstack.config import StackSettings
from feedbackloop.events import FeedbackRouted, decode
from feedbackloop.events.topics import QUEUE_PREFIX
from feedbackloop.simulate.driver import Outcome, replay
from feedbackloop.simulate.plan import PlannedItem, plan_day

#: Seconds after the last offer that accepted items may take to reach their queue.
GRACE = 60.0
#: Intake answered an item this late after its moment: it no longer kept pace.
ON_TIME = 1.0


class QueueWatcher:
    """Reads every department queue from the start; when each ticket's record was readable."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
        )
        queues = [t for t in self._consumer.topics() if t.startswith(QUEUE_PREFIX)]
        if not queues:
            raise RuntimeError("no department queue topics on the broker")
        partitions = [
            TopicPartition(topic, p)
            for topic in queues
            for p in self._consumer.partitions_for_topic(topic) or ()
        ]
        self._consumer.assign(partitions)
        self._consumer.seek_to_beginning(*partitions)
        #: ticket_no -> seconds from intake's acceptance to readable on its queue.
        self.latency: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for batch in self._consumer.poll(timeout_ms=200, max_records=5000).values():
                arrived = time.time()
                for record in batch:
                    item = decode(record.value, expect=FeedbackRouted).data.feedback
                    self.latency.setdefault(item.ticket_no, arrived - item.received_at.timestamp())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


async def offer(
    args: argparse.Namespace, planned: list[PlannedItem], url: str, token: str
) -> list[Outcome]:
    """Outcomes of the items intake answered before the offering and its grace were over."""
    outcomes: list[Outcome] = []
    work = replay(
        planned,
        intake_url=url,
        wechat_token=DEV_WECHAT_TOKEN,
        speed=1.0,
        concurrency=args.concurrency,
        give_up=GRACE,
        on_outcome=outcomes.append,
        hotline_token=token,
    )
    main = asyncio.ensure_future(work)
    done, _ = await asyncio.wait([main], timeout=args.duration + GRACE)
    if not done:
        # What intake had not answered by then was not taken in time. The replay's requests
        # run as tasks of their own: all are cancelled before the client closes under them.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
    return list(outcomes)


def run_steady(args: argparse.Namespace, state: Path) -> dict[str, object]:
    settings = StackSettings()
    offered = round(args.rate * args.duration)
    plan = plan_day(items=offered, seed=args.seed, data_dir=settings.data_dir)
    planned = [dataclasses.replace(item, at=n / args.rate) for n, item in enumerate(plan)]
    with pipeline(state, settings, postgres=args.postgres, routers=args.routers) as stack:
        watcher = QueueWatcher(stack.kafka.bootstrap)
        watcher.start()
        measured = stack.measured()
        try:
            with measured.stretch():
                started = time.monotonic()
                outcomes = asyncio.run(
                    offer(args, planned, stack.fleet.url("intake"), stack.hotline_token)
                )
                offered_seconds = time.monotonic() - started
                taken = {o.ticket_no for o in outcomes if o.status == "accepted" and o.ticket_no}
                deadline = started + args.duration + GRACE
                while time.monotonic() < deadline and not taken <= watcher.latency.keys():
                    time.sleep(0.1)
                drained = time.monotonic() - started
        finally:
            watcher.stop()
    delays = sorted(o.seconds for o in outcomes if o.status == "accepted")
    # An accepted item not on its queue in time counts as later than any that arrived.
    latencies = sorted(watcher.latency.get(t, float("inf")) for t in taken)
    late = sum(1 for x in latencies if x == float("inf"))
    on_time = bool(delays) and percentile(delays, 0.99) <= ON_TIME and len(taken) == offered

    def seconds(value: float) -> float | None:
        return round(value, 3) if math.isfinite(value) else None

    return {
        "benchmark": f"e2e-steady-{args.rate:g}" + ("-postgresql" if args.postgres else ""),
        "what": (
            f"{args.rate:g} items/s offered for {args.duration:g} s (the day's mix of channels) "
            f"through intake -> {args.routers} router(s) -> the department queues, "
            f"{'PostgreSQL' if args.postgres else 'SQLite'} stores; latency from intake's "
            "acceptance to the record being readable on queue.<dept>"
        ),
        "rate": args.rate,
        "duration_seconds": args.duration,
        "offered": offered,
        "accepted": len(taken),
        "accepted_per_second": round(len(taken) / max(offered_seconds, 1e-9), 1),
        "acceptance_delay_p99_seconds": seconds(percentile(delays, 0.99)) if delays else None,
        "not_on_queue_in_time": late,
        "intake_to_queue_p50_seconds": seconds(percentile(latencies, 0.5)),
        "intake_to_queue_p99_seconds": seconds(percentile(latencies, 0.99)),
        "last_on_queue_seconds_after_start": round(drained, 1),
        "kept_up": on_time and late == 0,
        **measured.figures(len(taken)),
    }
