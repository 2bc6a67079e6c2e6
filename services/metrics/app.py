"""The metrics process: the log reader folding every event, behind a `/metrics` endpoint."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedbackloop.runtime.consumers import lifespan_of
from feedbackloop.web.limits import BodySizeLimit
from feedbackloop.web.proxies import trust_proxies
from services.metrics import pages
from services.metrics.config import Settings
from services.metrics.fold import EventFold
from services.metrics.reader import LogReader
from services.metrics.scoring import load_weights


def create_app(settings: Settings) -> FastAPI:
    """The metrics service's ASGI app; the log reader starts and stops with it."""
    fold = EventFold(dedup_window=settings.dedup_window)
    reader = LogReader(
        bootstrap=settings.kafka_bootstrap,
        fold=fold,
        partitions=settings.topic_partitions,
        batch_size=settings.batch_size,
        watch_interval=settings.watch_seconds,
    )

    app = FastAPI(title="feedbackloop metrics", version="1", lifespan=lifespan_of(reader))
    app.state.fold = fold
    # Read once: a broken file stops the service at start, not a page later.
    app.state.weights = load_weights(settings.scoring_path)
    app.state.reader = reader
    pages.install(app)

    @app.get("/healthz", summary="Liveness")
    def healthz() -> JSONResponse:
        healthy = reader.healthy()
        body = {
            "status": "ok" if healthy else "starting" if not reader.connected else "failed",
            "caught_up": reader.caught_up,
            "records": reader.folded,
            "skipped": reader.skipped,
            "failure": reader.why_not_reading(),
            "consumer": reader.service.health(),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        if not reader.healthy():
            # The figures stopped moving: a failed scrape says so, a 200 would hide it.
            return Response("the log reader is not running\n", status_code=503)
        if not reader.caught_up:
            # Half-folded totals would look like counter resets to Prometheus (and fire
            # increase()-based alerts); a failed scrape during the replay is the truth.
            return Response("replaying the log, not ready yet\n", status_code=503)
        return Response(generate_latest(fold.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Last, so outermost: every other part sees the client, not the proxy.
    trust_proxies(app, settings.trusted_proxies)
    return app
