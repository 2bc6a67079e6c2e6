"""The followup process: ticket API and pages, ticket opening and notifying (two consumer
groups on the shared batch loop), clocks, the outbox relay."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from feedbackloop.events.topics import (
    DEAD_LETTER,
    FEEDBACK_HOTSPOTS,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
)
from feedbackloop.runtime.consumers import ConsumerCollector, ConsumerService
from feedbackloop.runtime.outbox import OutboxRelay
from feedbackloop.web.limits import BodySizeLimit
from feedbackloop.web.proxies import trust_proxies
from services.followup import (
    agents,
    callback_views,
    centre_views,
    cohandling_views,
    early_warnings,
    merge_views,
    notifications,
    pages,
    views,
    web,
)
from services.followup.config import Settings
from services.followup.database import open_store
from services.followup.deps import Followup, WakeFn
from services.followup.flows import Desk
from services.followup.knowledge import views as knowledge_views
from services.followup.metrics import Tally, create_registry
from services.followup.models import OutboxMessage
from services.followup.publication import moderation as publication_moderation
from services.followup.publication import pages as publication_pages
from services.followup.repeats import RepeatRules
from services.followup.runner import ClockRunner
from services.followup.sla import load_sla_book

PROBLEM_JSON = "application/problem+json"

__all__ = ["create_api", "create_app", "open_store"]


def create_desk(settings: Settings) -> Desk:
    """SLA policies and working calendar from the configured policy file; repeat rules."""
    book = load_sla_book(settings.sla_policies)
    rules = (
        RepeatRules(
            contact_key=settings.contact_key,
            window=timedelta(hours=settings.repeat_window_hours),
            similarity=settings.repeat_similarity,
        )
        if settings.repeat_window_hours
        else None
    )
    return Desk(book=book, calendar=book.calendar(), repeat_rules=rules)


def create_streams(
    settings: Settings,
    sessions: sessionmaker[Session],
    desk: Desk,
    wake: WakeFn,
    tally: Tally | None = None,
) -> list[ConsumerService]:
    """Followup's Kafka side: ticket opening, then notifying (and the signals worker's early
    warnings), each in its own group and loop."""
    opening = agents.ticket_opening(sessions=sessions, desk=desk, wake_relay=wake, tally=tally)
    notifier = notifications.create_notifier(settings, sessions)
    notifying = notifications.notifying(sessions=sessions, settings=settings, notifier=notifier)
    warning = early_warnings.warnings_batch(
        sessions=sessions,
        notifier=notifier,
        webhooks=settings.staff_webhooks,
        base_url=settings.public_base_url,
    )
    common: dict[str, Any] = {
        "bootstrap": settings.kafka_bootstrap,
        "topics": [DEAD_LETTER],
        "partitions": settings.topic_partitions,
        "batch_size": settings.batch_size,
    }
    return [
        ConsumerService(
            name=settings.app_id,
            # metrics reads this group's committed offsets on feedback.routed as the pipeline's lag.
            group=settings.app_id,
            handlers={FEEDBACK_ROUTED: opening},
            **common,
        ),
        # Notifying waits on SMS and WeChat gateways; in a loop of its own a slow gateway
        # never holds up ticket opening (one loop handles its batches one after another).
        ConsumerService(
            name=f"{settings.app_id}-notify",
            group=f"{settings.app_id}-notify",
            handlers={TICKET_EVENTS: notifying, FEEDBACK_HOTSPOTS: warning},
            **common,
        ),
    ]


def create_api(followup: Followup, *, lifespan: Any = None) -> FastAPI:
    """Followup's HTTP side on a store, without the background parts (also used by tests)."""
    app = FastAPI(title="feedbackloop followup", version="1", lifespan=lifespan)
    app.state.followup = followup
    app.state.streams = None
    app.include_router(views.router)
    app.include_router(centre_views.router)
    app.include_router(merge_views.router)
    app.include_router(cohandling_views.router)
    app.include_router(knowledge_views.router)
    app.include_router(pages.router)
    app.include_router(publication_pages.router)
    app.include_router(publication_moderation.router)
    app.include_router(callback_views.router)
    web.install(app)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        unknown_path = exc.status_code == 404 and exc.detail == "Not Found"
        detail = "没有这个地址" if unknown_path else exc.detail
        body = {"type": "about:blank", "title": "请求失败", "status": exc.status_code}
        body["detail"] = detail
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_JSON, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()})
        body = {"type": "about:blank", "title": "请求有误", "status": 422}
        body["detail"] = "请求内容不符合要求，请检查：" + "、".join(f for f in fields if f)
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)

    app.add_middleware(BodySizeLimit, max_bytes=followup.settings.max_body_bytes)
    # Last, so outermost: every other part sees the client, not the proxy.
    trust_proxies(app, followup.settings.trusted_proxies)
    return app


def create_followup(settings: Settings, *, wake: WakeFn | None = None) -> Followup:
    """The parts of a followup process on its configured store."""
    return Followup(
        settings=settings,
        sessions=open_store(settings.database_url),
        desk=create_desk(settings),
        wake_relay=wake or WakeFn(),
    )


def create_app(settings: Settings) -> FastAPI:
    """Followup's process: API and pages with the agent, clock runner and relay running."""
    followup = create_followup(settings)
    relay = OutboxRelay(
        sessions=followup.sessions,
        table=OutboxMessage,
        bootstrap=settings.kafka_bootstrap,
        client_id="feedbackloop-followup-relay",
        retention=timedelta(days=settings.outbox_retention_days),
    )
    followup.wake_relay = WakeFn(relay.wake)
    runner = ClockRunner(
        sessions=followup.sessions,
        desk=followup.desk,
        interval=settings.clock_interval_seconds,
        on_fired=relay.wake,
    )
    tally = Tally()
    streams = create_streams(settings, followup.sessions, followup.desk, followup.wake_relay, tally)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        relay.start()
        runner.start()
        for service in streams:
            await service.start()
        try:
            yield
        finally:
            for service in reversed(streams):
                await service.stop()
            runner.stop()
            relay.stop()

    app = create_api(followup, lifespan=lifespan)
    app.state.streams = streams
    app.state.runner = runner
    registry = create_registry(followup.sessions, lambda: runner.fired, tally)
    registry.register(ConsumerCollector(*streams))

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
