"""The hotline channel: call transcripts from the call centre, one by one or as JSONL batches.

The call centre is an authenticated system feeding many citizens' calls, so neither route is
rate-limited per source: limiting an agent or the feed would drop citizens' complaints.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from feedbackloop.events import Channel
from services.intake import service
from services.intake.channels.web import accepted_message
from services.intake.deps import Intake, IntakeDep
from services.intake.flows import accept_item
from services.intake.problems import field_message
from services.intake.schemas import FeedbackAccepted
from services.intake.transcripts import HotlineCall, narrative, title

router = APIRouter(tags=["hotline"])

MAX_LINES = 10_000
JSONL_TYPES = {"application/x-ndjson", "application/jsonl", "application/json-lines", "text/plain"}


def to_item(call: HotlineCall) -> service.NewFeedback:
    """The channel-neutral item for a call."""
    return service.NewFeedback(
        channel=Channel.HOTLINE,
        channel_ref=call.call_id,
        title=title(call),
        text=narrative(call),
        contact_phone=call.caller_number,
        callback_consent=call.caller_number is not None,  # they called us and can be called back
        priority_hint=call.urgency_hint,
        category_hint=call.category_hint,
    )


@router.post(
    "/api/v1/hotline/calls",
    response_model=FeedbackAccepted,
    status_code=status.HTTP_201_CREATED,
    summary="来电工单 — one hotline call transcript; a repeat of a call_id answers 200",
    responses={200: {"description": "This call_id was accepted before; same ticket"}},
)
def post_call(call: HotlineCall, response: Response, intake: IntakeDep) -> FeedbackAccepted:
    """Accept one call; idempotent by call_id."""
    accepted = accept_item(intake=intake, item=to_item(call))
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return FeedbackAccepted(
        ticket_no=accepted.ticket_no,
        ticket_id=accepted.ticket_id,
        received_at=accepted.received_at,
        message=accepted_message(accepted.ticket_no),
        status_url=intake.settings.status_url_template.format(ticket_no=accepted.ticket_no),
    )


@router.post(
    "/api/v1/hotline/calls:batch",
    summary="批量来电 — up to 10,000 calls as JSONL, with a result per line",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def post_calls_batch(request: Request, intake: IntakeDep) -> dict[str, Any]:
    """Accept each good line, report each bad one; nothing accepted depends on the others."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSONL_TYPES:
        raise HTTPException(415, "请以 JSONL 格式（application/x-ndjson，每行一个通话）提交")
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    results: list[dict[str, Any]] = []
    calls = 0
    async for number, line in _lines(request.stream()):
        if not line.strip():
            continue
        calls += 1
        if calls > MAX_LINES:
            result: dict[str, Any] = _rejected(
                number, "body", f"每批最多 {MAX_LINES} 个通话，请分批提交"
            )
        else:
            result = await run_in_threadpool(_one_line, intake, number, line)
        counts[result["status"] if result["status"] != "duplicate" else "duplicates"] += 1
        results.append(result)
    return {**counts, "results": results}


def _one_line(intake: Intake, number: int, line: bytes) -> dict[str, Any]:
    try:
        call = HotlineCall.model_validate(json.loads(line))
    except UnicodeDecodeError:
        return _rejected(number, "body", "这一行不是 UTF-8 编码的文字")
    except ValueError as exc:  # JSONDecodeError and ValidationError are both ValueErrors
        if not isinstance(exc, ValidationError):
            return _rejected(number, "body", "这一行不是有效的 JSON")
        errors = [
            dict(zip(("field", "message"), field_message(dict(e)), strict=True))
            for e in exc.errors()
        ]
        return {"line": number, "status": "rejected", "errors": errors}
    accepted = accept_item(intake=intake, item=to_item(call))
    return {
        "line": number,
        "status": "accepted" if accepted.created else "duplicate",
        "call_id": call.call_id,
        "ticket_no": accepted.ticket_no,
    }


def _rejected(number: int, field: str, message: str) -> dict[str, Any]:
    return {"line": number, "status": "rejected", "errors": [{"field": field, "message": message}]}


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Numbered lines of a streamed body, without holding the whole body in memory."""
    pending = b""
    number = 0
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            yield number, line
    if pending:
        yield number + 1, pending
