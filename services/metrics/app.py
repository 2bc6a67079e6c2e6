"""The metrics process: the folding faust agent behind a `/metrics` endpoint."""

import faust
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED, TICKET_EVENTS
from feedbackloop.runtime.streams import create_stream_app, raw_topic, stream_lifespan
from services.metrics import agents
from services.metrics.config import Settings
from services.metrics.fold import EventFold


def create_faust_app(settings: Settings, fold: EventFold) -> faust.App:
    """The faust app with the folding agent attached."""
    app = create_stream_app(
        "feedbackloop-metrics",
        bootstrap=settings.kafka_bootstrap,
        partitions=settings.topic_partitions,
        guarantee="at_least_once",
    )
    source = raw_topic(app, FEEDBACK_RECEIVED, FEEDBACK_ROUTED, TICKET_EVENTS)
    agents.register(app, source=source, fold=fold)
    return app


def create_app(settings: Settings) -> FastAPI:
    """The metrics service's ASGI app; the faust app starts and stops with it."""
    fold = EventFold(dedup_window=settings.dedup_window)
    stream_app = create_faust_app(settings, fold)
    app = FastAPI(title="feedbackloop metrics", version="1", lifespan=stream_lifespan(stream_app))

    @app.get("/healthz", summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "failed" if stream_app.crashed else "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(fold.registry), media_type=CONTENT_TYPE_LATEST)

    return app
