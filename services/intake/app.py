"""Intake's ASGI application: routes, error handling, the store and the outbox relay."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.intake import problems, service
from services.intake.config import Settings
from services.intake.database import create_store
from services.intake.limits import BodySizeLimit
from services.intake.metrics import IntakeMetrics
from services.intake.relay import OutboxRelay
from services.intake.views import router


def create_app(settings: Settings) -> FastAPI:
    """Build intake; the relay starts and stops with the application."""
    sessions = create_store(settings.database_url)
    relay = OutboxRelay(
        sessions=sessions,
        bootstrap=settings.kafka_bootstrap,
        batch_size=settings.relay_batch_size,
        idle_seconds=settings.relay_idle_seconds,
    )

    def pending() -> float:
        with sessions() as session:
            return float(service.count_unsent(session=session))

    metrics = IntakeMetrics(pending=pending, published=lambda: float(relay.published))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        relay.start()
        try:
            yield
        finally:
            relay.stop()

    app = FastAPI(
        title="feedbackloop intake",
        version="1",
        description="Accepts citizens' items from every channel and answers with a ticket number.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.relay = relay
    app.state.metrics = metrics
    problems.install(app)
    app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
