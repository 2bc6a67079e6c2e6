"""The followup process: the ticket-opening faust agent inside the ticket API."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import faust
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from feedbackloop.events.topics import FEEDBACK_ROUTED
from services.followup import agents
from services.followup.config import Settings
from services.followup.database import create_store
from services.followup.views import router

PROBLEM_JSON = "application/problem+json"


def create_faust_app(settings: Settings, sessions: sessionmaker[Session]) -> faust.App:
    """The faust app with the ticket-opening agent attached."""
    app = faust.App(
        "feedbackloop-followup",
        broker="kafka://" + settings.kafka_bootstrap.replace(",", ";"),
        # The effect is a database write, idempotent by event id; Kafka transactions would
        # not cover it, so at-least-once is the honest guarantee here.
        processing_guarantee="at_least_once",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    topics = {}

    async def publish(topic: str, key: str, value: bytes) -> None:
        if topic not in topics:
            topics[topic] = app.topic(topic, key_serializer="raw", value_serializer="raw")
        await topics[topic].send(key=key.encode(), value=value)

    source = app.topic(FEEDBACK_ROUTED, key_serializer="raw", value_serializer="raw")
    agents.register(app, source=source, sessions=sessions, publish=publish)
    return app


def create_api(sessions: sessionmaker[Session], *, lifespan: Any = None) -> FastAPI:
    """The ticket API on a store, without the stream processor (also used by the fuzz tests)."""
    app = FastAPI(title="feedbackloop followup", version="1", lifespan=lifespan)
    app.state.sessions = sessions
    app.state.faust = None
    app.include_router(router)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        detail = (
            exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "没有这个地址"
        )
        body = {"type": "about:blank", "title": "请求失败", "status": exc.status_code}
        body["detail"] = detail
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_JSON)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        body = {"type": "about:blank", "title": "请求有误", "status": 422}
        body["detail"] = "请求参数格式不正确"
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)

    return app


def create_app(settings: Settings) -> FastAPI:
    """Followup's process: the ticket API with the stream processor starting and stopping."""
    sessions = create_store(settings.database_url)
    stream_app = create_faust_app(settings, sessions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await stream_app.start()
        try:
            yield
        finally:
            await stream_app.stop()

    app = create_api(sessions, lifespan=lifespan)
    app.state.faust = stream_app
    return app
