"""The metrics process: the folding faust agent behind a `/metrics` endpoint."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import faust
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED, TICKET_EVENTS
from services.metrics import agents
from services.metrics.config import Settings
from services.metrics.fold import EventFold


def create_faust_app(settings: Settings, fold: EventFold) -> faust.App:
    """The faust app with the folding agent attached."""
    app = faust.App(
        "feedbackloop-metrics",
        broker="kafka://" + settings.kafka_bootstrap.replace(",", ";"),
        processing_guarantee="at_least_once",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(
        FEEDBACK_RECEIVED,
        FEEDBACK_ROUTED,
        TICKET_EVENTS,
        key_serializer="raw",
        value_serializer="raw",
    )
    agents.register(app, source=source, fold=fold)
    return app


def create_app(settings: Settings) -> FastAPI:
    """The metrics service's ASGI app; the faust app starts and stops with it."""
    fold = EventFold(dedup_window=settings.dedup_window)
    stream_app = create_faust_app(settings, fold)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await stream_app.start()
        try:
            yield
        finally:
            await stream_app.stop()

    app = FastAPI(title="feedbackloop metrics", version="1", lifespan=lifespan)

    @app.get("/healthz", summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "failed" if stream_app.crashed else "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(fold.registry), media_type=CONTENT_TYPE_LATEST)

    return app
