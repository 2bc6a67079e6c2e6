"""The router process: a faust app (the agent) inside a small ASGI app (health, metrics)."""

from datetime import timedelta

import faust
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from feedbackloop.events.topics import FEEDBACK_RECEIVED, TICKET_EVENTS, queue_topic
from feedbackloop.runtime.sql import create_store
from feedbackloop.runtime.streams import (
    RawPublisher,
    create_stream_app,
    raw_topic,
    stream_lifespan,
)
from services.router import agents, console, views
from services.router.classifier import CategoryModel
from services.router.config import Settings
from services.router.hotspots import Detector
from services.router.metrics import RouterMetrics
from services.router.models import Base
from services.router.rules import RuleTable, load_rule_table


def create_faust_app(
    settings: Settings,
    table: RuleTable,
    model: CategoryModel,
    metrics: RouterMetrics,
    sessions: sessionmaker[Session],
) -> tuple[faust.App, RawPublisher]:
    """The faust app with the routing agent attached, and its publisher."""
    app = create_stream_app(
        "feedbackloop-router",
        bootstrap=settings.kafka_bootstrap,
        partitions=settings.topic_partitions,
    )
    publisher = RawPublisher(app, partitions=settings.topic_partitions)
    source = raw_topic(app, FEEDBACK_RECEIVED)
    threshold = settings.confidence_threshold or model.threshold
    agents.register(
        app,
        source=source,
        table=table,
        classifier=model,
        threshold=threshold,
        publish=publisher,
        metrics=metrics,
        sessions=sessions,
        detector=Detector(
            duplicate_window=timedelta(hours=settings.duplicate_window_hours),
            hotspot_items=settings.hotspot_items,
            hotspot_window=timedelta(hours=settings.hotspot_window_hours),
        ),
    )

    agents.register_returns(
        app,
        source=raw_topic(app, TICKET_EVENTS),
        table=table,
        threshold=threshold,
        publish=publisher,
        sessions=sessions,
    )

    @app.task(on_leader=False)
    async def declare_queues() -> None:
        # Department systems may subscribe before the first item reaches them.
        for code in table.departments:
            await publisher.topic(queue_topic(code)).maybe_declare()

    return app, publisher


def create_app(settings: Settings) -> FastAPI:
    """The router's ASGI app; the faust app starts and stops with it."""
    table = load_rule_table(settings.rules_path)
    try:
        model = CategoryModel.load(settings.model_dir)
    except ValueError as exc:
        raise RuntimeError(f"{exc}; train it with `feedbackloop router train`") from exc
    metrics = RouterMetrics()
    sessions = create_store(settings.database_url, Base.metadata)
    stream_app, publisher = create_faust_app(settings, table, model, metrics, sessions)
    app = FastAPI(title="feedbackloop router", version="1", lifespan=stream_lifespan(stream_app))
    app.state.faust = stream_app
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.table = table
    app.state.publish = publisher
    app.include_router(views.router)
    console.install(app)

    @app.exception_handler(HTTPException)
    async def _problem(_request: Request, exc: HTTPException) -> JSONResponse:
        body = {"type": "about:blank", "title": "请求失败", "status": exc.status_code}
        body["detail"] = "没有这个地址" if exc.detail == "Not Found" else exc.detail
        return JSONResponse(
            body,
            status_code=exc.status_code,
            headers=exc.headers,
            media_type="application/problem+json",
        )

    @app.get("/healthz", summary="Liveness and the routing table in use")
    def healthz() -> dict[str, object]:
        return {
            "status": "failed" if stream_app.crashed else "ok",
            "departments": len(table.departments),
            "rules": len(table.rules),
            "model": model.card.get("version"),
            "threshold": settings.confidence_threshold or model.threshold,
        }

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
