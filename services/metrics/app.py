"""The metrics process: the log reader folding every event, behind a `/metrics` endpoint."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.metrics import pages
from services.metrics.config import Settings
from services.metrics.fold import EventFold
from services.metrics.reader import LogReader


def create_app(settings: Settings) -> FastAPI:
    """The metrics service's ASGI app; the log reader starts and stops with it."""
    fold = EventFold(dedup_window=settings.dedup_window)
    reader = LogReader(bootstrap=settings.kafka_bootstrap, fold=fold)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        reader.start()
        try:
            yield
        finally:
            reader.stop()

    app = FastAPI(title="feedbackloop metrics", version="1", lifespan=lifespan)
    app.state.fold = fold
    app.state.reader = reader
    pages.install(app)

    @app.get("/healthz", summary="Liveness")
    def healthz() -> dict[str, object]:
        return {
            "status": "ok" if reader.alive() else "failed",
            "caught_up": reader.caught_up,
            "records": reader.folded,
        }

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        if not reader.caught_up:
            # Half-folded totals would look like counter resets to Prometheus (and fire
            # increase()-based alerts); a failed scrape during the replay is the truth.
            return Response("replaying the log, not ready yet\n", status_code=503)
        return Response(generate_latest(fold.registry), media_type=CONTENT_TYPE_LATEST)

    return app
