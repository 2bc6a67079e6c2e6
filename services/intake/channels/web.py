"""The web channel's JSON API (the `/form` page lives in `webform.py`)."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, status

from feedbackloop.events import Channel
from services.intake import service
from services.intake.deps import IntakeDep
from services.intake.flows import accept_item_async
from services.intake.schemas import FeedbackAccepted, FeedbackIn

router = APIRouter(tags=["web"])


def accepted_message(ticket_no: str) -> str:
    """The sentence a citizen is shown or read when an item is accepted."""
    return f"您的诉求已受理，工单号 {ticket_no}。请记下工单号，凭它查询办理进度。"


@router.post(
    "/api/v1/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackAccepted,
    summary="提交诉求 — submit a complaint or request (channel web)",
    responses={
        413: {"description": "Body too large"},
        422: {"description": "Invalid fields, explained per field in Chinese"},
        429: {"description": "Too many items from this source; see Retry-After"},
    },
)
async def post_feedback(
    body: FeedbackIn,
    request: Request,
    intake: IntakeDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> FeedbackAccepted:
    """Accept an item and answer with its ticket number before it reaches Kafka."""
    item = service.NewFeedback(
        channel=Channel.WEB,
        # A blank key is no key: taken as one, every blank-keyed item would be "the same".
        channel_ref=(idempotency_key or "").strip() or None,
        title=body.title,
        text=body.text,
        location=body.location_model(),
        contact_phone=body.contact_phone,
        callback_consent=body.callback_consent,
        publication_consent=body.publication_consent,
    )
    client_ip = request.client.host if request.client else None
    accepted = await accept_item_async(
        intake=intake,
        item=item,
        limit_keys=(
            f"ip:{client_ip}",
            f"phone:{body.contact_phone}" if body.contact_phone else None,
        ),
    )
    return FeedbackAccepted(
        ticket_no=accepted.ticket_no,
        ticket_id=accepted.ticket_id,
        received_at=accepted.received_at,
        message=accepted_message(accepted.ticket_no),
        status_url=intake.settings.status_url(accepted.ticket_no),
    )
