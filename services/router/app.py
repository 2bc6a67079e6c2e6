"""The router process: its two agents in a batch loop (the Kafka side) inside a small ASGI app
(health, metrics, the triage API and the operators' console)."""

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer
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
from feedbackloop.runtime.batches import BatchHandler, BatchLoop, freeze_heap, lifespan_of
from feedbackloop.runtime.producer import KafkaPublisher
from feedbackloop.runtime.sql import create_store
from feedbackloop.runtime.topics import create_topics
from feedbackloop.web.limits import BodySizeLimit
from feedbackloop.web.proxies import trust_proxies
from services.router import console, views
from services.router.agents import ReturnsAgent, RouteAgent
from services.router.classifier import CategoryModel
from services.router.config import Settings
from services.router.hotspots import Detector
from services.router.metrics import RouterMetrics
from services.router.models import Base
from services.router.rules import RuleTable, load_rule_table

log = logging.getLogger(__name__)

#: The consumer group of every router replica (its committed offsets are the router's progress).
GROUP = "feedbackloop-router"


class Streams:
    """The router's Kafka side: the publisher and the batch loop running both agents."""

    def __init__(
        self,
        settings: Settings,
        table: RuleTable,
        model: CategoryModel,
        metrics: RouterMetrics,
        sessions: sessionmaker[Session],
    ) -> None:
        self.settings = settings
        self.table = table
        self.publisher = KafkaPublisher(bootstrap=settings.kafka_bootstrap, client_id=GROUP)
        threshold = settings.confidence_threshold or model.threshold
        route = RouteAgent(
            table=table,
            classifier=model,
            threshold=threshold,
            metrics=metrics,
            sessions=sessions,
            detector=Detector(
                duplicate_window=timedelta(hours=settings.duplicate_window_hours),
                hotspot_items=settings.hotspot_items,
                hotspot_window=timedelta(hours=settings.hotspot_window_hours),
            ),
        )
        returns = ReturnsAgent(
            table=table, threshold=threshold, publish=self.publisher, sessions=sessions
        )
        self.handlers: dict[str, BatchHandler] = {FEEDBACK_RECEIVED: route, TICKET_EVENTS: returns}
        self.loop: BatchLoop | None = None
        self.waiting_for: str | None = None
        self._starting: asyncio.Task[None] | None = None

    def _new_loop(self) -> BatchLoop:
        # aiokafka's clients need the running event loop: made here, not at import.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap.split(","),
            group_id=GROUP,
            client_id=GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A replica that dies hands its partitions on after this long.
            session_timeout_ms=15_000,
            heartbeat_interval_ms=3_000,
        )
        return BatchLoop(
            consumer=consumer,
            publisher=self.publisher,
            handlers=self.handlers,
            batch_size=self.settings.batch_size,
        )

    def topics(self) -> list[str]:
        """Every topic the router reads or writes; department systems may subscribe to
        their queue before the first item reaches it."""
        queues = [queue_topic(code) for code in self.table.departments]
        written = [FEEDBACK_ROUTED, FEEDBACK_HOTSPOTS, DEAD_LETTER, *queues]
        return [FEEDBACK_RECEIVED, TICKET_EVENTS, *written]

    async def start(self) -> None:
        """Connect in the background, retrying until the broker answers."""
        freeze_heap()
        self._starting = asyncio.create_task(self._connect(), name="router-connect")

    async def _connect(self) -> None:
        pause = 0.5
        while True:
            loop = self._new_loop()
            try:
                await asyncio.to_thread(
                    create_topics, self.settings.kafka_bootstrap, self.topics(),
                    partitions=self.settings.topic_partitions,
                )  # fmt: skip
                await self.publisher.start()
                await loop.start()
            except Exception as exc:  # the broker is not there yet: keep trying
                self.waiting_for = f"Kafka at {self.settings.kafka_bootstrap}: {exc}"
                log.warning("router waiting for %s", self.waiting_for)
                await loop.stop()
                await self.publisher.stop()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            self.waiting_for = None
            self.loop = loop
            return

    async def stop(self) -> None:
        """Finish the batches in hand, then disconnect."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self.loop is not None:
            await self.loop.stop()
        await self.publisher.stop()

    def health(self) -> dict[str, Any]:
        """What /healthz says about the Kafka side."""
        if self.loop is None:
            return {"status": "starting", "kafka": self.waiting_for or "connecting"}
        status = self.loop.status
        return {
            "status": "failed" if status.crashed else "ok",
            "kafka": "connected",
            "batches": status.batches,
            "records": status.records,
            "failures": status.failures,
            "last_error": status.last_error,
            "retry_in_seconds": status.retry_in,
            "rebalances": status.rebalances,
        }


def create_app(settings: Settings) -> FastAPI:
    """The router's ASGI app; its Kafka side starts and stops with it."""
    table = load_rule_table(settings.rules_path)
    try:
        model = CategoryModel.load(settings.model_dir)
    except ValueError as exc:
        raise RuntimeError(f"{exc}; train it with `feedbackloop router train`") from exc
    metrics = RouterMetrics()
    sessions = create_store(settings.database_url, Base.metadata)
    streams = Streams(settings, table, model, metrics, sessions)
    metrics.watch(lambda: streams.loop.status if streams.loop else None)

    app = FastAPI(title="feedbackloop router", version="1", lifespan=lifespan_of(streams))
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
