"""Intake's HTTP routes: the web API for citizens' items, health and metrics."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Channel
from services.intake import service
from services.intake.config import Settings
from services.intake.metrics import IntakeMetrics
from services.intake.relay import OutboxRelay
from services.intake.schemas import FeedbackAccepted, FeedbackIn

router = APIRouter()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _relay(request: Request) -> OutboxRelay:
    return request.app.state.relay


def _metrics(request: Request) -> IntakeMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
RelayDep = Annotated[OutboxRelay, Depends(_relay)]
MetricsDep = Annotated[IntakeMetrics, Depends(_metrics)]


def accept(
    *,
    sessions: sessionmaker[Session],
    relay: OutboxRelay,
    metrics: IntakeMetrics,
    node: int,
    item: service.NewFeedback,
) -> service.Accepted:
    """Commit an item (or find its earlier copy) and wake the relay; safe to call twice."""
    if item.channel_ref:
        with sessions() as session:
            known = service.get_submission(
                session=session, channel=item.channel, channel_ref=item.channel_ref
            )
            if known is not None:
                return _repeat(known)
    try:
        with sessions.begin() as session:
            accepted = service.create_submission(
                session=session, item=item, node=node, now=datetime.now(UTC)
            )
    except IntegrityError:
        # The same channel reference was committed by a concurrent request.
        if not item.channel_ref:
            raise
        with sessions() as session:
            known = service.get_submission(
                session=session, channel=item.channel, channel_ref=item.channel_ref
            )
        assert known is not None
        return _repeat(known)
    relay.wake()
    metrics.accepted.labels(channel=item.channel.value).inc()
    return accepted


def _repeat(known: service.Submission) -> service.Accepted:
    return service.Accepted(
        ticket_id=known.ticket_id,
        ticket_no=known.ticket_no,
        received_at=known.received_at,
        created=False,
    )


@router.post(
    "/api/v1/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackAccepted,
    summary="提交诉求 — submit a complaint or request (channel web)",
    responses={422: {"description": "Invalid fields, explained per field in Chinese"}},
)
def post_feedback(
    body: FeedbackIn,
    settings: SettingsDep,
    sessions: SessionsDep,
    relay: RelayDep,
    metrics: MetricsDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> FeedbackAccepted:
    """Accept an item and answer with its ticket number before it reaches Kafka."""
    item = service.NewFeedback(
        channel=Channel.WEB,
        channel_ref=idempotency_key,
        title=body.title,
        text=body.text,
        location=body.location_model(),
        contact_phone=body.contact_phone,
        callback_consent=body.callback_consent,
    )
    accepted = accept(
        sessions=sessions, relay=relay, metrics=metrics, node=settings.node, item=item
    )
    return FeedbackAccepted(
        ticket_no=accepted.ticket_no,
        ticket_id=accepted.ticket_id,
        received_at=accepted.received_at,
        message=f"您的诉求已受理，工单号 {accepted.ticket_no}。请记下工单号，凭它查询办理进度。",
    )


@router.get("/healthz", summary="Liveness and outbox state")
def healthz(sessions: SessionsDep, relay: RelayDep) -> dict[str, object]:
    """Whether intake runs, how many items wait for Kafka, and whether Kafka answers."""
    with sessions() as session:
        pending = service.count_unsent(session=session)
    return {"status": "ok", "outbox_pending": pending, "kafka": relay.broker_available}
