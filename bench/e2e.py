"""A Beijing day end to end: 66,000 simulated items through intake -> router -> followup ->
metrics on a real broker, and the broker's raw produce rate for comparison.

Starts its own broker (6 partitions) and the four services (SQLite stores, or PostgreSQL
with --postgres), replays `feedbackloop simulate`'s plan through intake's real channels as
fast as they take it, and waits until every accepted item has a routing decision on
`feedback.routed`, a ticket row in followup, and is counted by metrics. Then it runs
Kafka's own ProducerPerformance tool against the same broker. With --rate, it offers items
at a steady rate instead (bench/steady.py). With --profile DIR, py-spy records every service
while the day runs (bench/profile.py).

    .venv/bin/python -m bench.e2e [--items 66000] [--routers 1] [--postgres] [--quick]
    .venv/bin/python -m bench.e2e --rate 500 [--duration 60]
"""

import argparse
import asyncio
import contextlib
import re
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bench.profile import Profiler
from bench.stack import PARTITIONS, percentile, pipeline, write_result
from bench.steady import run_steady
from feedbackloop.cli.simulate import DEV_WECHAT_TOKEN
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.events import FeedbackRouted, decode
from feedbackloop.events.topics import FEEDBACK_ROUTED
from feedbackloop.runtime.sql import create_store, engine_of
from feedbackloop.runtime.topics import create_topics
from feedbackloop.simulate.driver import replay
from feedbackloop.simulate.plan import plan_day
from services.followup.models import Ticket


def routing_latencies(bootstrap: str, items: int, timeout: float) -> list[float]:
    """Seconds from intake's acceptance to the routing decision's commit, per item.

    Reads `feedback.routed` (committed records) until `items` distinct tickets are there; the
    record's timestamp is when the router produced it.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    partitions = [TopicPartition(FEEDBACK_ROUTED, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < items and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for record in batch:
                    routed = decode(record.value, expect=FeedbackRouted).data
                    received = routed.feedback.received_at.timestamp()
                    seen.setdefault(routed.feedback.ticket_id, record.timestamp / 1000 - received)
    finally:
        consumer.close()
    if len(seen) < items:
        raise RuntimeError(f"only {len(seen)} of {items} items routed in {timeout} s")
    return sorted(seen.values())


def wait_tickets(database_url: str, items: int, timeout: float) -> None:
    sessions = create_store(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with sessions() as session:
                if session.execute(select(func.count()).select_from(Ticket)).scalar_one() >= items:
                    return
            time.sleep(0.5)
    finally:
        engine_of(sessions).dispose()
    raise RuntimeError(f"followup did not have {items} tickets in {timeout} s")


def wait_counted(metrics_url: str, items: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = httpx.get(f"{metrics_url}/metrics", timeout=10)
        if reply.status_code == 200:
            total = sum(
                sample.value
                for family in text_string_to_metric_families(reply.text)
                for sample in family.samples
                if sample.name == "feedbackloop_feedback_received_total"
            )
            if total >= items:
                return
        time.sleep(0.5)
    raise RuntimeError(f"metrics did not count {items} items in {timeout} s")


def producer_performance(kafka: LocalKafka, *, records: int, size: int) -> dict[str, float]:
    """Kafka's own ProducerPerformance (acks=all) against the broker: records/s and MB/s."""
    create_topics(kafka.bootstrap, ["bench.producer-perf"], partitions=PARTITIONS)
    tool = [
        "java",
        "-Xmx512m",
        "-cp",
        kafka.classpath(),
        "org.apache.kafka.tools.ProducerPerformance",
    ]
    options = {
        "--topic": "bench.producer-perf",
        "--num-records": str(records),
        "--record-size": str(size),
        "--throughput": "-1",
    }
    props = ["--producer-props", f"bootstrap.servers={kafka.bootstrap}", "acks=all"]
    command = [*tool, *(part for pair in options.items() for part in pair), *props]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    summary = done.stdout.strip().splitlines()[-1]
    found = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\)", summary)
    if found is None:
        raise RuntimeError(f"unexpected ProducerPerformance output: {summary}")
    return {"records_per_second": float(found.group(1)), "mb_per_second": float(found.group(2))}


def run(args: argparse.Namespace, state: Path) -> dict[str, object]:
    settings = StackSettings()
    planned = plan_day(items=args.items, seed=args.seed, data_dir=settings.data_dir)
    with pipeline(state, settings, postgres=args.postgres, routers=args.routers) as stack:
        measured = stack.measured()
        profiler: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if args.profile:
            profiler = Profiler(stack.fleet, args.profile, gil=not args.profile_waits)
        with measured.stretch(), profiler:
            started = time.perf_counter()
            outcomes = asyncio.run(
                replay(
                    planned,
                    intake_url=stack.fleet.url("intake"),
                    wechat_token=DEV_WECHAT_TOKEN,
                    speed=None,
                    concurrency=args.concurrency,
                    give_up=600,
                    hotline_token=stack.hotline_token,
                )
            )
            accepted_seconds = time.perf_counter() - started
            accepted = sum(o.status == "accepted" for o in outcomes)
            latencies = routing_latencies(stack.kafka.bootstrap, accepted, timeout=1800)
            routed_seconds = time.perf_counter() - started
            wait_tickets(stack.env["FEEDBACKLOOP_FOLLOWUP_DATABASE_URL"], accepted, timeout=1800)
            wait_counted(stack.fleet.url("metrics"), accepted, timeout=1800)
            seconds = time.perf_counter() - started
        raw = producer_performance(stack.kafka, records=args.perf_records, size=args.record_size)
    rate = accepted / seconds
    return {
        "benchmark": "e2e" + ("-postgresql" if args.postgres else ""),
        "what": (
            f"{args.items} simulated items (45% hotline batches, 35% WeChat, 20% web) through "
            f"intake -> {args.routers} router(s) -> followup -> metrics, "
            f"{'PostgreSQL' if args.postgres else 'SQLite'} stores, real broker, one machine"
        ),
        "items": args.items,
        "accepted": accepted,
        "refused": [o.error for o in outcomes if o.status != "accepted"][:5],
        "channels": dict(Counter(o.channel for o in outcomes)),
        "all_accepted_seconds": round(accepted_seconds, 1),
        "all_routed_seconds": round(routed_seconds, 1),
        "end_to_end_seconds": round(seconds, 1),
        "items_per_second": round(rate, 1),
        "intake_to_queue_p50_seconds": round(statistics.median(latencies), 3),
        "intake_to_queue_p99_seconds": round(percentile(latencies, 0.99), 3),
        **measured.figures(accepted),
        "kafka_producer_performance": {"record_size": args.record_size, **raw},
        "ratio_to_raw_produce_rate": round(rate / raw["records_per_second"], 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=66_000)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--routers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL stores")
    parser.add_argument("--perf-records", type=int, default=500_000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--profile", type=Path, help="py-spy every service into this folder")
    parser.add_argument(
        "--profile-waits", action="store_true", help="profile every busy thread, not the GIL's"
    )
    parser.add_argument("--rate", type=float, help="offer items at this steady rate (items/s)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, with --rate")
    parser.add_argument("--quick", action="store_true", help="a short trial of the harness")
    args = parser.parse_args()
    if args.quick:
        args.items, args.perf_records, args.duration = 2000, 50_000, 10.0
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        report = run_steady(args, Path(tmp)) if args.rate else run(args, Path(tmp))
    write_result(report, quick=args.quick)


if __name__ == "__main__":
    main()
