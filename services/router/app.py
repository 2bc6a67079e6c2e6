"""The router process: a faust app (the agent) inside a small ASGI app (health, metrics)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import faust
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedbackloop.events.topics import FEEDBACK_RECEIVED, queue_topic
from services.router import agents
from services.router.config import Settings
from services.router.metrics import RouterMetrics
from services.router.rules import RuleTable, load_rule_table

log = logging.getLogger(__name__)


class FaustPublisher:
    """Sends raw records through a faust app's producer (inside its transaction, if any)."""

    def __init__(self, app: faust.App, partitions: int) -> None:
        self._app = app
        self._partitions = partitions
        self._topics: dict[str, Any] = {}

    def topic(self, name: str) -> Any:
        """The faust topic object for a name, created once."""
        if name not in self._topics:
            self._topics[name] = self._app.topic(
                name,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self._partitions,
            )
        return self._topics[name]

    async def __call__(self, topic: str, key: str, value: bytes) -> None:
        await self.topic(topic).send(key=key.encode(), value=value)


def create_faust_app(settings: Settings, table: RuleTable, metrics: RouterMetrics) -> faust.App:
    """The faust app with the routing agent attached."""
    app = faust.App(
        "feedbackloop-router",
        broker="kafka://" + settings.kafka_bootstrap.replace(",", ";"),
        processing_guarantee=settings.processing_guarantee,
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    publisher = FaustPublisher(app, settings.topic_partitions)
    source = app.topic(FEEDBACK_RECEIVED, key_serializer="raw", value_serializer="raw")
    agents.register(app, source=source, table=table, publish=publisher, metrics=metrics)

    @app.task(on_leader=False)
    async def declare_queues() -> None:
        # Department systems may subscribe before the first item reaches them.
        for code in table.departments:
            await publisher.topic(queue_topic(code)).maybe_declare()

    return app


def create_app(settings: Settings) -> FastAPI:
    """The router's ASGI app; the faust app starts and stops with it."""
    table = load_rule_table(settings.rules_path)
    metrics = RouterMetrics()
    stream_app = create_faust_app(settings, table, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await stream_app.start()
        try:
            yield
        finally:
            await stream_app.stop()

    app = FastAPI(title="feedbackloop router", version="1", lifespan=lifespan)
    app.state.faust = stream_app

    @app.get("/healthz", summary="Liveness and the routing table in use")
    def healthz() -> dict[str, object]:
        crashed = bool(stream_app.crashed)
        return {
            "status": "failed" if crashed else "ok",
            "departments": len(table.departments),
            "rules": len(table.rules),
        }

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
