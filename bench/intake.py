"""Intake's JSON API against a real broker: accepted items/s and p50/p99 latency.

Starts its own Kafka and one intake process on free loopback ports, posts real citizen
messages from ../shared/data with a fixed number of concurrent clients, then waits until the
outbox relay has published every accepted item to Kafka.

    .venv/bin/python -m bench.intake [--items 5000] [--concurrency 32]
"""

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.machine import describe
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics

RESULTS = Path(__file__).with_name("results")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_bodies(data_dir: Path) -> list[dict[str, str]]:
    """Raw citizen messages as API bodies."""
    with (data_dir / "messages_unlabelled.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {"title": row["subject"].strip()[:100], "text": row["detail"].strip()[:5000]}
        for row in rows
        if len(row["detail"].strip()) >= 5
    ]


async def post_all(
    url: str, bodies: list[dict[str, str]], *, items: int, concurrency: int
) -> dict[str, object]:
    """Post `items` bodies with `concurrency` clients; return latencies and outcome counts."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(items):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                reply = await client.post("/api/v1/feedback", json=bodies[n % len(bodies)])
                latencies.append(time.perf_counter() - started)
                statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "wall_seconds": round(wall, 3),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "accepted_per_second": round(statuses.get(201, 0) / wall, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    settings = StackSettings()
    bodies = load_bodies(settings.data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        state = Path(tmp)
        broker = LocalKafka(
            home=state / "kafka",
            pom=settings.kafka_pom,
            port=free_port(),
            controller_port=free_port(),
        )
        broker.start(timeout=120)
        intake = ServiceProcess("intake", free_port(), state / "intake.log")
        try:
            create_topics(broker.bootstrap, list(CORE_TOPICS), partitions=6)
            env = dict(os.environ)
            env.update(
                {
                    "FEEDBACKLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
                    "FEEDBACKLOOP_INTAKE_PORT": str(intake.port),
                    "FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{state / 'intake.db'}",
                    "FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE": "100000000",
                    "FEEDBACKLOOP_INTAKE_READ_MODEL_ENABLED": "false",
                    "FEEDBACKLOOP_LOG_LEVEL": "WARNING",
                }
            )
            intake.start(env)
            intake.wait_healthy(deadline=time.monotonic() + 60)
            # Warm-up: connections, SQLite pages, the relay's producer.
            asyncio.run(post_all(intake.url, bodies, items=200, concurrency=8))
            result = asyncio.run(
                post_all(intake.url, bodies, items=args.items, concurrency=args.concurrency)
            )
            started = time.perf_counter()
            while httpx.get(f"{intake.url}/healthz").json()["outbox_pending"] > 0:
                time.sleep(0.05)
            result["outbox_drained_seconds_after_load"] = round(time.perf_counter() - started, 3)
        finally:
            intake.stop()
            broker.stop()
    report = {
        "benchmark": "intake",
        "what": "POST /api/v1/feedback on one intake process (SQLite outbox) with a real broker",
        "items": args.items,
        "concurrency": args.concurrency,
        "machine": describe(),
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "intake.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
