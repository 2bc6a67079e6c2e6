"""The metrics service tells the truth about its reader: 503 while it is not reading."""

import threading
from datetime import datetime
from types import SimpleNamespace

from fastapi.testclient import TestClient

from feedbackloop.events import encode
from services.metrics.app import create_app
from services.metrics.config import Settings
from services.metrics.reader import LogReader
from tests import factories
from tests.integration.conftest import wait_for

# Port 1: nothing listens there; the reader's broker is never reached in these tests.
SETTINGS = Settings(kafka_bootstrap="127.0.0.1:1")


def record(value: bytes, offset: int = 7) -> SimpleNamespace:
    """What the reader uses of a consumed record."""
    return SimpleNamespace(topic="feedback.routed", partition=0, offset=offset, value=value)


def test_metrics_and_health_answer_503_while_the_reader_fails_and_starts_over() -> None:
    app = create_app(SETTINGS)
    reader: LogReader = app.state.reader
    reader.caught_up = True  # it had folded the log when it broke

    def broken() -> None:
        raise RuntimeError("a bug in the reader")

    reader._read = broken  # type: ignore[method-assign]
    client = TestClient(app)
    reader.start()
    try:
        wait_for(lambda: reader.failure is not None, timeout=10, what="the failure")
        assert reader.alive()  # it keeps trying, with backoff
        assert client.get("/metrics").status_code == 503
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "failed"
        assert health.json()["failure"] == "RuntimeError"
    finally:
        reader.stop(timeout=5)


def test_metrics_and_health_answer_503_once_the_reader_thread_has_ended() -> None:
    app = create_app(SETTINGS)
    reader: LogReader = app.state.reader
    reader.caught_up = True
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    reader._thread = ended
    client = TestClient(app)
    assert client.get("/metrics").status_code == 503
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["failure"] == "the log reader has stopped"


def test_a_record_the_fold_cannot_take_is_skipped_and_counted() -> None:
    app = create_app(SETTINGS)
    reader: LogReader = app.state.reader
    item = factories.received()
    # A producer that wrote a naive time: the fold cannot subtract it from an aware one.
    naive = factories.routed(item).model_copy(deep=True)
    naive.data.__dict__["routed_at"] = datetime(2026, 11, 22, 3, 0)
    reader._apply(record(encode(naive)))
    reader._apply(record(encode(factories.routed(factories.received())), offset=8))
    assert reader.skipped == 1
    text = generate(app)
    assert "feedbackloop_metrics_unfoldable_records_total 1.0" in text
    assert "feedbackloop_pipeline_latency_seconds_count 1.0" in text  # the good one


def generate(app: object) -> str:
    from prometheus_client import generate_latest

    return generate_latest(app.state.fold.registry).decode()  # type: ignore[attr-defined]
