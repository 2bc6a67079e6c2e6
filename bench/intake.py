"""Intake against a real broker: the JSON API (items/s, p50/p99 latency) and the hotline
batch ingest (calls/s).

Starts its own Kafka and one intake process on free loopback ports, posts real citizen
messages from ../shared/data with a fixed number of concurrent clients, then waits until the
outbox relay has published every accepted item to Kafka. Then a call centre, holding a real
credential, posts the same messages as finished calls in JSONL batches, a few at a time.

    .venv/bin/python -m bench.intake [--items 5000] [--concurrency 32] [--calls 20000]
"""

import argparse
import asyncio
import csv
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.stack import broker, hotline_credential, percentile, service_env, write_result
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import free_port, usage_of
from feedbackloop.devstack.processes import ServiceProcess


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
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def hotline_calls(bodies: list[dict[str, str]], calls: int, run: str) -> list[bytes]:
    """Finished calls as a call centre's system writes them, one JSONL line each."""
    started = datetime.now(UTC).replace(microsecond=0)
    lines = []
    for n in range(calls):
        body = bodies[n % len(bodies)]
        # A recogniser's turn holds at most 5,000 characters, as intake's schema says.
        said = (f"{body['title']}。{body['text']}" if body["title"] else body["text"])[:5000]
        call = {
            "call_id": f"{run}-{n}",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(minutes=3)).isoformat(),
            "agent_id": "bench-agent",
            "turns": [
                {"speaker": "agent", "text": "您好，12345热线。", "start_ms": 0, "end_ms": 1500},
                {"speaker": "caller", "text": said, "start_ms": 1600, "end_ms": 60000},
            ],
        }
        lines.append(json.dumps(call, ensure_ascii=False).encode())
    return lines


async def post_batches(
    url: str, token: str, lines: list[bytes], *, batch: int, concurrency: int
) -> dict[str, object]:
    """Post the lines as JSONL batches, `concurrency` at a time; calls/s and batch latency."""
    batches = [lines[n : n + batch] for n in range(0, len(lines), batch)]
    latencies: list[float] = []
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    slots = asyncio.Semaphore(concurrency)
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:

        async def one(part: list[bytes]) -> None:
            async with slots:
                started = time.perf_counter()
                reply = await client.post(
                    "/api/v1/hotline/calls:batch", content=b"\n".join(part), headers=headers
                )
                latencies.append(time.perf_counter() - started)
                reply.raise_for_status()
                for key in counts:
                    counts[key] += reply.json()[key]

        started = time.perf_counter()
        await asyncio.gather(*(one(part) for part in batches))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "calls": len(lines),
        "batch_lines": batch,
        "concurrent_batches": concurrency,
        "wall_seconds": round(wall, 3),
        **counts,
        "calls_per_second": round(counts["accepted"] / wall, 1),
        "batch_p50_seconds": round(statistics.median(latencies), 3),
        "batch_p99_seconds": round(percentile(latencies, 0.99), 3),
    }


def wait_outbox(url: str) -> float:
    """Seconds until intake's relay has published every stored item."""
    started = time.perf_counter()
    while httpx.get(f"{url}/healthz", timeout=10).json()["outbox_pending"] > 0:
        time.sleep(0.05)
    return round(time.perf_counter() - started, 3)


def cpu_of(intake: ServiceProcess) -> float:
    assert intake.popen is not None
    return usage_of(intake.popen.pid).cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--calls", type=int, default=20_000, help="hotline calls")
    parser.add_argument("--batch", type=int, default=1000, help="calls per hotline batch")
    parser.add_argument("--batches", type=int, default=4, help="hotline batches at once")
    parser.add_argument("--quick", action="store_true", help="a short trial: 500 items, 2000 calls")
    args = parser.parse_args()
    if args.quick:
        args.items, args.calls = 500, 2000
    settings = StackSettings()
    bodies = load_bodies(settings.data_dir)
    lines = hotline_calls(bodies, args.calls, run="bench")
    with (
        tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp,
        broker(Path(tmp), settings) as kafka,
    ):
        state = Path(tmp)
        intake = ServiceProcess("intake", free_port(), state / "intake.log")
        database_url = f"sqlite:///{state / 'intake.db'}"
        env = service_env(kafka.bootstrap, settings)
        env.update(
            {
                "FEEDBACKLOOP_INTAKE_PORT": str(intake.port),
                "FEEDBACKLOOP_INTAKE_DATABASE_URL": database_url,
                "FEEDBACKLOOP_INTAKE_READ_MODEL_ENABLED": "false",
            }
        )
        try:
            intake.start(env)
            intake.wait_healthy(deadline=time.monotonic() + 60)
            token = hotline_credential(database_url)
            # Warm-up: connections, SQLite pages, the relay's producer, the credential's check.
            asyncio.run(post_all(intake.url, bodies, items=200, concurrency=8))
            warm = hotline_calls(bodies, 100, run="warm-up")
            asyncio.run(post_batches(intake.url, token, warm, batch=50, concurrency=2))
            wait_outbox(intake.url)
            cpu = cpu_of(intake)
            result = asyncio.run(
                post_all(intake.url, bodies, items=args.items, concurrency=args.concurrency)
            )
            result["outbox_drained_seconds_after_load"] = wait_outbox(intake.url)
            result["cpu_ms_per_item"] = round((cpu_of(intake) - cpu) * 1000 / args.items, 2)
            cpu = cpu_of(intake)
            hotline = asyncio.run(
                post_batches(intake.url, token, lines, batch=args.batch, concurrency=args.batches)
            )
            hotline["outbox_drained_seconds_after_load"] = wait_outbox(intake.url)
            hotline["cpu_ms_per_call"] = round((cpu_of(intake) - cpu) * 1000 / args.calls, 2)
            rss = usage_of(intake.popen.pid).rss_mib if intake.popen else 0.0
        finally:
            intake.stop()
    write_result(
        {
            "benchmark": "intake",
            "what": "POST /api/v1/feedback, then POST /api/v1/hotline/calls:batch (JSONL, a real "
            "call-centre credential), on one intake process (SQLite outbox) with a real broker",
            "items": args.items,
            "concurrency": args.concurrency,
            **result,
            "hotline_batch": hotline,
            "rss_mib_after": round(rss),
        },
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
