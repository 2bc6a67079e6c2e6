"""The followup process: the ticket-opening faust agent inside the ticket API."""

from typing import Any

import faust
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from feedbackloop.events.topics import FEEDBACK_ROUTED
from feedbackloop.runtime.sql import create_store
from feedbackloop.runtime.streams import (
    RawPublisher,
    create_stream_app,
    raw_topic,
    stream_lifespan,
)
from services.followup import agents
from services.followup.config import Settings
from services.followup.models import Base
from services.followup.views import router

PROBLEM_JSON = "application/problem+json"


def create_faust_app(settings: Settings, sessions: sessionmaker[Session]) -> faust.App:
    """The faust app with the ticket-opening agent attached."""
    app = create_stream_app(
        "feedbackloop-followup",
        bootstrap=settings.kafka_bootstrap,
        partitions=settings.topic_partitions,
        # The effect is a database write, idempotent by event id; Kafka transactions would
        # not cover it, so at-least-once is the honest guarantee here.
        guarantee="at_least_once",
    )
    publisher = RawPublisher(app, partitions=settings.topic_partitions)
    agents.register(
        app, source=raw_topic(app, FEEDBACK_ROUTED), sessions=sessions, publish=publisher
    )
    return app


def open_store(database_url: str) -> sessionmaker[Session]:
    """Followup's ticket store."""
    return create_store(database_url, Base.metadata)


def create_api(sessions: sessionmaker[Session], *, lifespan: Any = None) -> FastAPI:
    """The ticket API on a store, without the stream processor (also used by the fuzz tests)."""
    app = FastAPI(title="feedbackloop followup", version="1", lifespan=lifespan)
    app.state.sessions = sessions
    app.state.faust = None
    app.include_router(router)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        unknown_path = exc.status_code == 404 and exc.detail == "Not Found"
        detail = "没有这个地址" if unknown_path else exc.detail
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
    sessions = open_store(settings.database_url)
    stream_app = create_faust_app(settings, sessions)
    app = create_api(sessions, lifespan=stream_lifespan(stream_app))
    app.state.faust = stream_app
    return app
