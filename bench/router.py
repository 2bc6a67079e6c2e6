"""Router processes against a real broker: items routed per second, and classifier latency.

Preloads `feedback.received` with real raw citizen messages, starts one router (then, on a
fresh broker, two in one consumer group), and times how long they take until every item's
routing decision is on `feedback.routed` (committed). A third run times `bench.plumbing`, the
router's Kafka work without the routing, as the floor under the router's cost per item.
Separately, times the category model in this process, one text at a time and in batches.

    .venv/bin/python -m bench.router [--items 30000]
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from bench.stack import write_result
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import free_port
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.events import Channel, FeedbackReceived, encode, new_event
from feedbackloop.events.topics import CORE_TOPICS, FEEDBACK_RECEIVED, FEEDBACK_ROUTED, queue_topic
from feedbackloop.runtime.topics import create_topics
from services.router.classifier import CategoryModel

ROUTER_GROUP = "feedbackloop-router"


def raw_texts(data_dir: Path) -> list[tuple[str, str]]:
    """(title, text) of raw messages, as intake would pass them on."""
    rows = []
    for name in ("messages_unlabelled.csv", "messages_with_votes.csv"):
        with (data_dir / name).open(encoding="utf-8", newline="") as handle:
            rows += [
                (r["subject"].strip()[:100], " ".join(r["detail"].split())[:5000])
                for r in csv.DictReader(handle)
                if r["detail"].strip()
            ]
    return rows


def classifier_latency(model: CategoryModel, texts: list[str]) -> dict[str, float]:
    """Per-text latency one at a time, and throughput in batches of 500."""
    latencies = []
    for text in texts[:1000]:
        started = time.perf_counter()
        model.rank([text])
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    started = time.perf_counter()
    for offset in range(0, len(texts), 500):
        model.rank(texts[offset : offset + 500])
    batch_rate = len(texts) / (time.perf_counter() - started)
    return {
        "classifier_p50_ms": round(statistics.median(latencies), 2),
        "classifier_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "classifier_batched_items_per_second": round(batch_rate, 1),
    }


def preload(bootstrap: str, rows: list[tuple[str, str]], items: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    now = datetime.now(UTC)
    for n in range(items):
        title, text = rows[n % len(rows)]
        ticket_id = str(uuid.uuid4())
        data = FeedbackReceived(
            ticket_id=ticket_id,
            ticket_no=f"26112210{n:05d}",
            channel=Channel.WEB,
            received_at=now,
            title=title or None,
            text=text,
        )
        event = new_event(data=data, source="/bench", subject=ticket_id)
        producer.send(FEEDBACK_RECEIVED, key=ticket_id.encode(), value=encode(event))
    producer.flush()
    producer.close()


def wait_routed(bootstrap: str, items: int, timeout: float) -> float:
    """Items routed per second from now until the router has committed its consumer offsets
    past every preloaded item (items routed before the first look are not counted).

    The router commits a batch's offsets only after the broker has acknowledged all of the
    batch's records, so this is when all decisions are on the broker. Watching offsets
    instead of reading the output keeps the measuring process from taking CPU the router needs.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    started = time.perf_counter()
    done, first = 0, None
    try:
        while time.perf_counter() - started < timeout:
            offsets = admin.list_group_offsets(ROUTER_GROUP).get(ROUTER_GROUP, {})
            done = sum(meta.offset for tp, meta in offsets.items() if tp.topic == FEEDBACK_RECEIVED)
            first = done if first is None else first
            if done >= items:
                return (items - first) / (time.perf_counter() - started)
            time.sleep(0.1)
    finally:
        admin.close()
    raise RuntimeError(f"only {done} of {items} items routed in {timeout} s")


def count_routed(bootstrap: str) -> int:
    """Committed records on feedback.routed (checks that nothing was skipped)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    partitions = [
        TopicPartition(FEEDBACK_ROUTED, p) for p in consumer.partitions_for_topic(FEEDBACK_ROUTED)
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen = 0
    while batches := consumer.poll(timeout_ms=2000):
        seen += sum(len(batch) for batch in batches.values())
    consumer.close()
    return seen


def route_backlog(
    settings: StackSettings, rows: list[tuple[str, str]], *, items: int, routers: int
) -> float:
    """Items/s that `routers` router processes in one group route from a backlog of `items`.

    With routers=0, times `bench.plumbing` instead: the same Kafka work with no routing.
    """
    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        state = Path(tmp)
        broker = LocalKafka(
            home=state / "kafka",
            pom=settings.kafka_pom,
            port=free_port(),
            controller_port=free_port(),
        )
        broker.start(timeout=120)
        procs = [
            ServiceProcess("router", free_port(), state / f"router-{n}.log") for n in range(routers)
        ]
        plumbing: subprocess.Popen[bytes] | None = None
        try:
            create_topics(broker.bootstrap, [*CORE_TOPICS, queue_topic("water")], partitions=6)
            preload(broker.bootstrap, rows, items)
            env = dict(os.environ)
            env.update(
                {
                    "FEEDBACKLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
                    "FEEDBACKLOOP_ROUTER_DATABASE_URL": f"sqlite:///{state / 'router.db'}",
                    "FEEDBACKLOOP_ROUTER_MODEL_DIR": str(settings.router_model_dir.resolve()),
                    "FEEDBACKLOOP_LOG_LEVEL": "WARNING",
                }
            )
            for proc in procs:
                proc.start({**env, "FEEDBACKLOOP_ROUTER_PORT": str(proc.port)})
            for proc in procs:
                proc.wait_healthy(deadline=time.monotonic() + 120)
            if not procs:
                with (state / "plumbing.log").open("wb") as log:
                    command = [sys.executable, "-m", "bench.plumbing", broker.bootstrap]
                    plumbing = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
                wait_started(broker.bootstrap, timeout=120)
            # Timed from when all are up: a group that is still rebalancing would count
            # start-up, not routing.
            rate = wait_routed(broker.bootstrap, items, timeout=600)
            routed = count_routed(broker.bootstrap)
            if routed != items:
                raise RuntimeError(f"{routed} routing decisions for {items} items")
        finally:
            for proc in procs:
                proc.stop()
            if plumbing is not None:
                plumbing.kill()
                plumbing.wait()
            broker.stop()
    return rate


def wait_started(bootstrap: str, *, timeout: float) -> None:
    """Until the group has committed its first offsets (it has joined and is consuming)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                offsets = admin.list_group_offsets(ROUTER_GROUP).get(ROUTER_GROUP, {})
            except KafkaError:  # the group's coordinator is not there until it has joined
                offsets = {}
            if any(meta.offset > 0 for meta in offsets.values()):
                return
            time.sleep(0.1)
    finally:
        admin.close()
    raise RuntimeError(f"the plumbing app did not start consuming within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--quick", action="store_true", help="a short trial: 3000 items")
    args = parser.parse_args()
    if args.quick:
        args.items = 3000
    settings = StackSettings()
    rows = raw_texts(settings.data_dir)
    model_dir = settings.router_model_dir.resolve()
    result = classifier_latency(CategoryModel.load(model_dir), [f"{t}\n{x}" for t, x in rows])
    one = route_backlog(settings, rows, items=args.items, routers=1)
    two = route_backlog(settings, rows, items=args.items, routers=2)
    floor = route_backlog(settings, rows, items=args.items, routers=0)
    report = {
        "benchmark": "router",
        "what": "router processes (one consumer group) routing a backlog of raw "
        "messages on a real broker, 6 partitions",
        "items": args.items,
        "routed_items_per_second": round(one, 1),
        "routed_items_per_second_two_routers": round(two, 1),
        "scale_out_speed_up": round(two / one, 2),
        # The same consumer group, batches, two records out per item and commits with no
        # routing at all (bench/plumbing.py): the most one process of this shape can do here.
        "plumbing_only_items_per_second": round(floor, 1),
        **result,
    }
    write_result(report, quick=args.quick)


if __name__ == "__main__":
    main()
