"""The metrics service on a real broker: after a SIGKILL and restart the totals are the log's."""

import time
from collections import Counter

import httpx
import pytest

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events import FeedbackReceived
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from tests.integration.conftest import find_events, metric, wait_for

pytestmark = pytest.mark.integration


def truth(bootstrap: str) -> Counter[str]:
    """Items per channel on feedback.received (each event id once): the ground truth."""
    events = find_events(bootstrap, FEEDBACK_RECEIVED, lambda e: True, count=1, timeout=30)
    unique = {e.id: e.data for e in events if isinstance(e.data, FeedbackReceived)}
    return Counter(data.channel.value for data in unique.values())


def test_a_killed_and_restarted_metrics_service_reports_the_true_totals(
    kafka: LocalKafka, stack: Stack
) -> None:
    intake = stack.services["intake"].url
    metrics = stack.services["metrics"]
    for n in range(5):  # under the per-IP rate limit shared with the other tests
        body = {"title": f"测试{n}", "text": f"第{n}条：小区路灯不亮，请尽快维修。"}
        assert httpx.post(f"{intake}/api/v1/feedback", json=body, timeout=10).status_code == 201
    expected = truth(kafka.bootstrap)
    wait_for(
        lambda: (
            metric(metrics.url, "feedbackloop_feedback_received_total", {"channel": "web"})
            == expected["web"]
        ),
        what="metrics to count every item",
    )

    metrics.stop(kill=True)
    metrics.start(stack.env())
    metrics.wait_healthy(deadline=time.monotonic() + 60)
    wait_for(
        lambda: httpx.get(f"{metrics.url}/healthz", timeout=5).json()["caught_up"],
        what="the restarted metrics service to fold the log",
    )
    for channel, count in expected.items():
        labels = {"channel": channel}
        assert metric(metrics.url, "feedbackloop_feedback_received_total", labels) == count
