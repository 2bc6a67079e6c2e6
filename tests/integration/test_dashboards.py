"""A real Prometheus scrapes the metrics service after a simulated day: every dashboard panel
has data, and the 三率 it shows are the rates computed from the simulated tickets."""

import os
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess
from feedbackloop.devstack.prometheus import LocalPrometheus
from feedbackloop.events import encode
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics
from tests.integration.conftest import free_port, wait_for
from tests.integration.day import DEPARTMENTS, simulate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_every_panel_has_data_and_the_three_rates_match_the_tickets(tmp_path: Path) -> None:
    from deploy.grafana.generate import all_queries

    # A broker of its own: the shared stack's followup would answer these tickets too.
    broker = LocalKafka(
        home=tmp_path / "kafka",
        pom=StackSettings().kafka_pom,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout=120)
    metrics = ServiceProcess("metrics", free_port(), tmp_path / "metrics.log")
    prometheus = LocalPrometheus(
        home=tmp_path / "prometheus",
        port=free_port(),
        targets={"metrics": f"127.0.0.1:{metrics.port}"},
        rule_files=[ROOT / "deploy" / "prometheus" / "alerts.yml"],
    )
    try:
        create_topics(broker.bootstrap, list(CORE_TOPICS), partitions=3)
        day = simulate(tickets=300, seed=12345)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for topic, event in day.events:
            producer.send(topic, key=event.subject.encode(), value=encode(event))
        producer.flush()
        producer.close()
        env = {
            **os.environ,
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
            "FEEDBACKLOOP_METRICS_PORT": str(metrics.port),
            "FEEDBACKLOOP_METRICS_HOST": "127.0.0.1",
        }
        metrics.start(env)
        metrics.wait_healthy(deadline=time.monotonic() + 60)
        prometheus.start()
        total = sum(day.received.values())
        received = "sum(max without (instance) (feedbackloop_feedback_received_total))"
        wait_for(
            lambda: (r := prometheus.query(received)) and float(r[0]["value"][1]) == total,
            timeout=90,
            what="Prometheus to scrape the folded day",
        )

        department = sorted(DEPARTMENTS)[0]
        queries = all_queries(department=department)

        def empty() -> list[tuple[str, str, str]]:
            return [(d, title, expr) for d, title, expr in queries if not prometheus.query(expr)]

        # rate() needs two scrapes of a series; poll until every panel has data.
        left: list[tuple[str, str, str]] = queries
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            left = empty()
        assert left == [], f"panels without data: {left}"
        assert len(queries) > 50

        for name, expected in [
            ("feedbackloop_response_rate", day.response_rate),
            ("feedbackloop_resolution_rate", day.resolution_rate),
            ("feedbackloop_satisfaction_rate", day.satisfaction_rate),
        ]:
            shown = {
                r["metric"]["department"]: float(r["value"][1])
                for r in prometheus.query(f"max without (instance) ({name})")
            }
            assert shown.keys() == expected.keys(), name
            for dept, rate in expected.items():
                assert shown[dept] == pytest.approx(rate, abs=1e-9), (name, dept)
    finally:
        prometheus.stop()
        metrics.stop()
        broker.stop()
