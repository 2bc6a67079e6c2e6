"""The router process: its two agents in a batch loop (the Kafka side) inside a small ASGI app
(health, metrics, the triage API and the operators' console)."""

import logging
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from feedbackloop.events.topics import (
    DEAD_LETTER,
    FEEDBACK_HOTSPOTS,
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
    queue_topic,
)
from feedbackloop.runtime.consumers import ConsumerService, freeze_heap, lifespan_of
from feedbackloop.runtime.producer import KafkaPublisher
from feedbackloop.runtime.sql import create_store
from feedbackloop.web.limits import BodySizeLimit
from feedbackloop.web.proxies import trust_proxies
from services.router import console, views
from services.router.agents import HotspotsAgent, ReturnsAgent, RouteAgent
from services.router.classifier import CategoryModel
from services.router.config import Settings
from services.router.hotspots import Detector
from services.router.metrics import RouterMetrics
from services.router.models import Base
from services.router.rules import RuleTable, load_rule_table

log = logging.getLogger(__name__)

#: The consumer group of every router replica (its committed offsets are the router's progress).
GROUP = "feedbackloop-router"


def create_streams(
    settings: Settings,
    table: RuleTable,
    model: CategoryModel,
    metrics: RouterMetrics,
    sessions: sessionmaker[Session],
) -> ConsumerService:
    """The router's Kafka side: both agents in one consumer group, one publisher."""
    publisher = KafkaPublisher(bootstrap=settings.kafka_bootstrap, client_id=GROUP)
    threshold = settings.confidence_threshold or model.threshold
    route = RouteAgent(
        table=table,
        classifier=model,
        threshold=threshold,
        metrics=metrics,
        sessions=sessions,
        detector=Detector(duplicate_window=timedelta(hours=settings.duplicate_window_hours)),
    )
    returns = ReturnsAgent(table=table, threshold=threshold, publish=publisher, sessions=sessions)
    # Department systems may subscribe to their queue before the first item reaches it.
    queues = [queue_topic(code) for code in table.departments]
    return ConsumerService(
        name=GROUP,
        bootstrap=settings.kafka_bootstrap,
        group=GROUP,
        handlers={
            FEEDBACK_RECEIVED: route,
            TICKET_EVENTS: returns,
            FEEDBACK_HOTSPOTS: HotspotsAgent(sessions=sessions),
        },
        publisher=publisher,
        topics=[FEEDBACK_ROUTED, FEEDBACK_HOTSPOTS, DEAD_LETTER, *queues],
        partitions=settings.topic_partitions,
        batch_size=settings.batch_size,
    )


def create_app(settings: Settings) -> FastAPI:
    """The router's ASGI app; its Kafka side starts and stops with it."""
    table = load_rule_table(settings.rules_path)
    try:
        model = CategoryModel.load(settings.model_dir)
    except ValueError as exc:
        raise RuntimeError(f"{exc}; train it with `feedbackloop router train`") from exc
    metrics = RouterMetrics()
    sessions = create_store(settings.database_url, Base.metadata)
    streams = create_streams(settings, table, model, metrics, sessions)
    freeze_heap()
    metrics.watch(streams)

    app = FastAPI(
        title="feedbackloop router",
        version="1",
        lifespan=lifespan_of(streams),
    )
    app.state.streams = streams
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.table = table
    app.state.publish = streams.publisher
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

    @app.get("/healthz", summary="Liveness, the Kafka side and the routing table in use")
    def healthz() -> dict[str, object]:
        return {
            **streams.health(),
            "departments": len(table.departments),
            "rules": len(table.rules),
            "model": model.card.get("version"),
            "threshold": settings.confidence_threshold or model.threshold,
        }

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Last, so outermost: every other part sees the client, not the proxy.
    trust_proxies(app, settings.trusted_proxies)
    return app
