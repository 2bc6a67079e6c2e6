"""A router started before its broker waits for it, then declares its topics and routes."""

import os
import time
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.events import encode
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from tests import factories
from tests.integration.conftest import find_events, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def health(router: ServiceProcess) -> dict[str, object]:
    try:
        reply = httpx.get(f"{router.url}/healthz", timeout=2)
    except httpx.HTTPError:
        return {}
    return dict(reply.json()) if reply.status_code == 200 else {}


def test_a_router_waits_for_kafka_then_routes(router_model: None, tmp_path: Path) -> None:
    broker = LocalKafka(
        home=tmp_path / "kafka",
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    router = ServiceProcess("router", free_port(), tmp_path / "router.log")
    env = dict(os.environ)
    env.update(
        {
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
            "FEEDBACKLOOP_ROUTER_PORT": str(router.port),
            "FEEDBACKLOOP_ROUTER_DATABASE_URL": f"sqlite:///{tmp_path / 'router.db'}",
            "FEEDBACKLOOP_ROUTER_MODEL_DIR": str(StackSettings().router_model_dir.resolve()),
        }
    )
    router.start(env)
    try:
        waiting = wait_for(
            lambda: (h := health(router)) and broker.bootstrap in str(h.get("kafka")) and h,
            timeout=60,
            what="the router to say which broker it waits for",
        )
        assert waiting["status"] == "starting"
        started = time.monotonic()
        broker.start(timeout=120)
        wait_for(
            lambda: health(router).get("status") == "ok", timeout=60, what="the router to connect"
        )
        # The broker creates no topics on use: the router declared what it reads and writes.
        item = factories.received("小区自来水管漏水，已经停水两天了")
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(FEEDBACK_RECEIVED, key=item.subject.encode(), value=encode(item)).get(30)
        producer.close()
        (routed,) = find_events(
            broker.bootstrap, "queue.water", lambda e: e.subject == item.subject, timeout=60
        )
        assert routed.data.feedback.ticket_no == item.data.ticket_no
        scraped = httpx.get(f"{router.url}/metrics", timeout=5).text
        assert 'feedbackloop_consumer_failures_total{consumer="feedbackloop-router"} 0.0' in scraped
        assert 'feedbackloop_router_routed_total{department="water",method="rule"} 1.0' in scraped
        print(f"routed {time.monotonic() - started:.1f} s after the broker was started")
    finally:
        router.stop()
        broker.stop()
