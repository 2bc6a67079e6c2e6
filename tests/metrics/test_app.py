"""The metrics service tells the truth about its reader: 503 while it is not reading.

The reader's loop is the runtime's real `BatchLoop`, over a log in memory instead of a broker.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from aiokafka import TopicPartition
from fastapi import FastAPI
from prometheus_client import generate_latest

from feedbackloop.events import encode
from feedbackloop.events.topics import FEEDBACK_ROUTED
from feedbackloop.runtime.batches import BatchLoop
from services.metrics.app import create_app
from services.metrics.config import Settings
from services.metrics.reader import TOPICS, LogReader
from tests import factories
from tests.metrics.memory_log import MemoryLog, Sent

# Port 1: nothing listens there; the reader's broker is never reached in these tests.
SETTINGS = Settings(kafka_bootstrap="127.0.0.1:1")
ROUTED = TopicPartition(FEEDBACK_ROUTED, 0)


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def attach(reader: LogReader, log: MemoryLog, **options: Any) -> BatchLoop:
    """Run the reader's handler in a real loop over `log`, as the service would once connected."""
    loop = BatchLoop(
        consumer=log,
        publisher=Sent(),
        handlers=dict.fromkeys(TOPICS, reader.handler),
        fetch_timeout_ms=5,
        grouped=False,
        **options,
    )
    await loop.start()
    reader.service.loop = loop
    return loop


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics")


def naive_routed() -> bytes:
    """A producer that wrote a time without a zone: the fold cannot subtract it."""
    event = factories.routed(factories.received()).model_copy(deep=True)
    event.data.__dict__["routed_at"] = datetime(2026, 11, 22, 3, 0)
    return encode(event)


def text(app: FastAPI) -> str:
    return generate_latest(app.state.fold.registry).decode()


def test_while_waiting_for_kafka_metrics_and_health_answer_503() -> None:
    async def run() -> None:
        app = create_app(SETTINGS)
        async with client(app) as http:
            assert (await http.get("/metrics")).status_code == 503
            health = await http.get("/healthz")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "starting" and body["consumer"]["status"] == "starting"
        assert body["failure"] == "the log reader is waiting for Kafka"

    asyncio.run(run())


def test_metrics_and_health_answer_503_while_the_loop_pauses_after_a_failure() -> None:
    async def run() -> None:
        app = create_app(SETTINGS)
        reader: LogReader = app.state.reader
        reader.caught_up = True  # it had folded the log when it broke

        def broken(prepared: object) -> None:
            raise RuntimeError("a bug in the reader")

        reader.handler.fold_batch = broken  # type: ignore[method-assign]
        log = MemoryLog({ROUTED: [encode(factories.routed())]})
        loop = await attach(reader, log, first_backoff=30.0)
        try:
            await until(lambda: loop.status.retry_in > 0)
            async with client(app) as http:
                assert (await http.get("/metrics")).status_code == 503
                health = await http.get("/healthz")
            assert health.status_code == 503
            body = health.json()
            assert (body["status"], body["failure"]) == ("failed", "RuntimeError")
            assert body["consumer"]["failures"] == 1
        finally:
            await loop.stop(timeout=1)

    asyncio.run(run())


def test_metrics_and_health_answer_503_once_the_loop_has_died() -> None:
    async def run() -> None:
        app = create_app(SETTINGS)
        reader: LogReader = app.state.reader
        reader.caught_up = True
        log = MemoryLog({ROUTED: []})
        log.fail_fetch = AssertionError("a bug in the client")
        loop = await attach(reader, log)
        try:
            await until(lambda: loop.status.crashed)
            async with client(app) as http:
                assert (await http.get("/metrics")).status_code == 503
                health = await http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["failure"] == "the log reader has stopped"
            assert "feedbackloop_consumer_up" + '{consumer="feedbackloop-metrics"} 0.0' in text(app)
        finally:
            await loop.stop(timeout=1)

    asyncio.run(run())


def test_a_record_the_fold_cannot_take_is_skipped_and_counted_and_the_rest_folded() -> None:
    async def run() -> None:
        app = create_app(SETTINGS)
        reader: LogReader = app.state.reader
        good = encode(factories.routed(factories.received()))
        log = MemoryLog({ROUTED: [naive_routed(), b"\x00 not an event", good]})
        reader.handler.aim_at({ROUTED: 3})  # the log's end when the reader started
        loop = await attach(reader, log)
        try:
            await until(lambda: reader.folded == 3)
            async with client(app) as http:
                health = await http.get("/healthz")
                scraped = await http.get("/metrics")
        finally:
            await loop.stop(timeout=1)
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok" and health.json()["caught_up"]
        assert (health.json()["records"], health.json()["skipped"]) == (3, 1)
        assert scraped.status_code == 200
        assert "feedbackloop_metrics_unfoldable_records_total 1.0" in scraped.text
        assert "feedbackloop_pipeline_latency_seconds_count 1.0" in scraped.text  # the good one
        assert 'feedbackloop_consumer_up{consumer="feedbackloop-metrics"} 1.0' in scraped.text

    asyncio.run(run())


def test_until_the_log_at_start_is_folded_metrics_answers_503() -> None:
    async def run() -> None:
        app = create_app(SETTINGS)
        reader: LogReader = app.state.reader
        events = [encode(factories.routed(factories.received())) for _ in range(4)]
        log = MemoryLog({ROUTED: events[:2]})
        # The log ended at offset 4 when the reader started; 2 records are there so far.
        reader.handler.aim_at({ROUTED: 4})
        loop = await attach(reader, log)
        try:
            await until(lambda: reader.folded == 2)
            async with client(app) as http:
                replaying = await http.get("/metrics")
                assert (await http.get("/healthz")).json()["caught_up"] is False
                for value in events[2:]:
                    log.add(ROUTED, value)
                await until(lambda: reader.caught_up)
                ready = await http.get("/metrics")
        finally:
            await loop.stop(timeout=1)
        assert replaying.status_code == 503 and "replaying" in replaying.text
        assert ready.status_code == 200
        assert "feedbackloop_pipeline_latency_seconds_count 4.0" in ready.text

    asyncio.run(run())
