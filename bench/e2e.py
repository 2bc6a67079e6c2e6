"""A Beijing day end to end: 66,000 simulated items through intake -> router -> followup ->
metrics on a real broker, and the broker's raw produce rate for comparison.

Starts its own broker (6 partitions) and the four services (SQLite stores, or PostgreSQL
with --postgres), replays `feedbackloop simulate`'s plan through intake's real channels as
fast as they take it, and waits until every accepted item has a routing decision on
`feedback.routed`, a ticket row in followup, and is counted by metrics. Then it runs
Kafka's own ProducerPerformance tool against the same broker.

    .venv/bin/python -m bench.e2e [--items 66000] [--routers 1] [--postgres]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bench.intake import RESULTS
from bench.machine import describe
from feedbackloop.cli.simulate import DEV_WECHAT_TOKEN
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import Fleet, free_port
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.events import FeedbackRouted, decode
from feedbackloop.events.topics import CORE_TOPICS, FEEDBACK_ROUTED
from feedbackloop.runtime.sql import create_store, engine_of
from feedbackloop.runtime.topics import create_topics
from feedbackloop.simulate.driver import replay
from feedbackloop.simulate.plan import plan_day
from services.followup.models import Ticket
from services.intake.credentials import Kind, create_credential
from services.intake.database import create_store as intake_store

PARTITIONS = 6


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


def producer_performance(broker: LocalKafka, *, records: int, size: int) -> dict[str, float]:
    """Kafka's own ProducerPerformance (acks=all) against the broker: records/s and MB/s."""
    create_topics(broker.bootstrap, ["bench.producer-perf"], partitions=PARTITIONS)
    command = [
        "java", "-Xmx512m", "-cp", broker.classpath(), "org.apache.kafka.tools.ProducerPerformance",
        "--topic", "bench.producer-perf", "--num-records", str(records),
        "--record-size", str(size), "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={broker.bootstrap}", "acks=all",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    summary = done.stdout.strip().splitlines()[-1]
    found = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\)", summary)
    if found is None:
        raise RuntimeError(f"unexpected ProducerPerformance output: {summary}")
    return {"records_per_second": float(found.group(1)), "mb_per_second": float(found.group(2))}


class PeakMemory:
    """Samples each replica's RSS every second and keeps the peak."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet, self.peak = fleet, Counter[str]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for name, usage in self._fleet.usage().items():
                self.peak[name] = max(self.peak[name], usage.rss_mib)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(args: argparse.Namespace, state: Path) -> dict[str, object]:
    settings = StackSettings()
    broker = LocalKafka(home=state / "kafka", pom=settings.kafka_pom, port=free_port(),
                        controller_port=free_port(), heap="1g")  # fmt: skip
    # Its own temporary folder: the server runs as `postgres`, which cannot enter `state`.
    postgres = (
        LocalPostgres(home=Path(tempfile.mkdtemp(prefix="bench-pg-")), port=free_port())
        if args.postgres
        else None
    )
    broker.start(timeout=120)
    if postgres is not None:
        postgres.start(timeout=60)
    fleet: Fleet | None = None
    try:
        create_topics(broker.bootstrap, list(CORE_TOPICS), partitions=PARTITIONS)
        env = dict(os.environ)
        env.update(
            {
                "FEEDBACKLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
                "FEEDBACKLOOP_TOPIC_PARTITIONS": str(PARTITIONS),
                "FEEDBACKLOOP_ROUTER_MODEL_DIR": str(settings.router_model_dir.resolve()),
                "FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE": "100000000",
                "FEEDBACKLOOP_LOG_LEVEL": "WARNING",
            }
        )
        for service in ("intake", "router", "followup"):
            url = (
                postgres.create_database(f"bench_{service}")
                if postgres is not None
                else f"sqlite:///{state / f'{service}.db'}"
            )
            env[f"FEEDBACKLOOP_{service.upper()}_DATABASE_URL"] = url
        counts = {"intake": 1, "router": args.routers, "followup": 1, "metrics": 1}
        fleet = Fleet(env=env, logs=state / "logs", counts=counts)
        fleet.start()
        # The call centre posting the day's calls, as a deployment would register it.
        with intake_store(env["FEEDBACKLOOP_INTAKE_DATABASE_URL"]).begin() as session:
            hotline_token = create_credential(
                session=session, kind=Kind.HOTLINE, name="bench call centre", now=datetime.now(UTC)
            )
        planned = plan_day(items=args.items, seed=args.seed, data_dir=settings.data_dir)
        before = fleet.usage()
        with PeakMemory(fleet) as memory:
            started = time.perf_counter()
            outcomes = asyncio.run(
                replay(planned, intake_url=fleet.url("intake"), wechat_token=DEV_WECHAT_TOKEN,
                       speed=None, concurrency=args.concurrency, give_up=600,
                       hotline_token=hotline_token)
            )  # fmt: skip
            accepted_seconds = time.perf_counter() - started
            accepted = sum(o.status == "accepted" for o in outcomes)
            latencies = routing_latencies(broker.bootstrap, accepted, timeout=1800)
            routed_seconds = time.perf_counter() - started
            wait_tickets(env["FEEDBACKLOOP_FOLLOWUP_DATABASE_URL"], accepted, timeout=1800)
            wait_counted(fleet.url("metrics"), accepted, timeout=1800)
            seconds = time.perf_counter() - started
        after = fleet.usage()
        raw = producer_performance(broker, records=args.perf_records, size=args.record_size)
    finally:
        if fleet is not None:
            fleet.stop()
        broker.stop()
        if postgres is not None:
            postgres.stop()
            shutil.rmtree(postgres.home, ignore_errors=True)
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
        "intake_to_queue_p99_seconds": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        "cpu_seconds": {
            k: round(after[k].cpu_seconds - before[k].cpu_seconds, 1) for k in sorted(after)
        },
        "peak_rss_mib": {k: round(v) for k, v in sorted(memory.peak.items())},
        "kafka_producer_performance": {"record_size": args.record_size, **raw},
        "ratio_to_raw_produce_rate": round(rate / raw["records_per_second"], 4),
        "machine": describe(),
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        report = run(args, Path(tmp))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{report['benchmark']}.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    )
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
