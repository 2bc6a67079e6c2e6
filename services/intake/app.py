"""Intake's ASGI application: channel routes, error handling, the store and the outbox relay."""

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedbackloop.runtime.consumers import ConsumerCollector
from feedbackloop.runtime.group_commit import GroupCommit
from feedbackloop.runtime.outbox import OutboxRelay
from feedbackloop.runtime.sql import write_guard
from feedbackloop.web.limits import BodySizeLimit
from feedbackloop.web.pages import mount_static
from feedbackloop.web.proxies import trust_proxies
from feedbackloop.web.visits import install_exit_handler
from services.intake import problems, service, views
from services.intake.channels import (
    agent,
    hotline,
    open311,
    open311_requests,
    open311_updates,
    web,
    webform,
    wechat,
)
from services.intake.config import Settings
from services.intake.credentials import Kind, Systems
from services.intake.database import create_store
from services.intake.deps import Intake
from services.intake.knowledge import KnowledgeBase
from services.intake.limits import RateLimiter
from services.intake.metrics import IntakeMetrics
from services.intake.models import OutboxMessage
from services.intake.privacy import ContactCipher
from services.intake.read_model import status_feed as read_model_feed


def create_app(settings: Settings) -> FastAPI:
    """Build intake; the relay starts and stops with the application."""
    sessions = create_store(settings.database_url)
    # One lock for every SQLite writer of this process (see `write_guard`).
    guard = write_guard(sessions)
    relay = OutboxRelay(
        sessions=sessions,
        table=OutboxMessage,
        bootstrap=settings.kafka_bootstrap,
        client_id="feedbackloop-intake-relay",
        batch_size=settings.relay_batch_size,
        idle_seconds=settings.relay_idle_seconds,
        retention=timedelta(days=settings.outbox_retention_days),
        write_guard=guard,
    )

    def pending() -> float:
        with sessions() as session:
            return float(service.count_unsent(session=session))

    cipher = ContactCipher(settings.contact_key)
    intake = Intake(
        settings=settings,
        sessions=sessions,
        relay=relay,
        metrics=IntakeMetrics(pending=pending, published=lambda: float(relay.published)),
        limiter=RateLimiter(per_minute=settings.rate_limit_per_minute),
        systems=Systems(
            sessions=sessions,
            per_minute={
                Kind.HOTLINE: settings.hotline_calls_per_minute,
                Kind.OPEN311: settings.open311_requests_per_minute,
                Kind.AGENT: settings.agent_items_per_minute,
            },
        ),
        cipher=cipher,
        write_guard=guard,
        committer=GroupCommit(
            sessions=sessions,
            write=service.submission_writer(node=settings.node, cipher=cipher),
            guard=guard,
            max_items=settings.group_commit_max_items,
            max_wait=settings.group_commit_max_wait_ms / 1000,
        ),
        knowledge=KnowledgeBase.connect(
            base_url=settings.knowledge_url,
            token=settings.knowledge_token,
            timeout=settings.knowledge_timeout_seconds,
            transport=None,
        )
        if settings.knowledge_url and settings.knowledge_token
        else None,
        open311_reads=RateLimiter(per_minute=settings.open311_reads_per_minute),
    )

    status_feed = read_model_feed(
        sessions=sessions,
        bootstrap=settings.kafka_bootstrap,
        write_guard=intake.write_guard,
        partitions=settings.topic_partitions,
    )
    intake.metrics.registry.register(ConsumerCollector(status_feed))

    # Hotline batches are stored on threads of their own (see channels/hotline.py). They live
    # as long as the application (a lifespan may run more than once, as under test clients);
    # idle ones end with the process.
    hotline_workers = ThreadPoolExecutor(
        max_workers=settings.hotline_batch_workers, thread_name_prefix="intake-hotline-batch"
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.relay_enabled:
            relay.start()
        if settings.read_model_enabled:
            await status_feed.start()
        try:
            yield
        finally:
            await status_feed.stop()
            relay.stop()
            intake.committer.close()

    app = FastAPI(
        title="feedbackloop intake",
        version="1",
        description="Accepts citizens' items from every channel and answers with a ticket number.",
        lifespan=lifespan,
    )
    app.state.intake = intake
    app.state.hotline_workers = hotline_workers
    problems.install(app)
    # Open311's queries before open311's router, whose last route answers every other path.
    routers = (web, webform, wechat, hotline, open311_requests, open311_updates, open311)
    for module in (*routers, agent, views):
        app.include_router(module.router)
    # The agent page's stylesheet and script, and its sign-in redirects.
    mount_static(app)
    install_exit_handler(app)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(intake.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        large_paths={"/api/v1/hotline/calls:batch": settings.max_batch_bytes},
    )
    # Last, so outermost: every other part sees the client, not the proxy.
    trust_proxies(app, settings.trusted_proxies)
    return app
