"""The hotline channel: call transcripts from call centres' systems, one by one or as JSONL.

Each call-centre system holds a credential (`feedbackloop intake add-credential --kind hotline`)
and presents it as `Authorization: Bearer <id>.<secret>`; without a valid one both routes answer
401. A centre's call_ids are its own: the dedup key is (credential, call_id), so two centres may
both number their calls from 1 and neither can claim the other's. Limits are per credential
(calls a minute), not per source address: one system speaks for many citizens.

A batch is read line by line as it streams in and stored in chunks on a few worker threads of
its own, so a maximal batch neither holds the body in memory nor keeps other channels waiting.
Past `hotline_max_batch_lines` lines (413) or a line longer than `hotline_max_line_bytes` (422)
the body is not read further; the lines before it stay taken and are reported as usual.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import Executor
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from feedbackloop.events import Channel
from feedbackloop.web.credentials import parse_token
from services.intake import service
from services.intake.channels.web import accepted_message
from services.intake.credentials import Holder, Kind
from services.intake.deps import Intake, IntakeDep, get_intake
from services.intake.flows import accept_item, accept_items
from services.intake.limits import RateLimited
from services.intake.problems import field_message, problem
from services.intake.schemas import FeedbackAccepted
from services.intake.transcripts import HotlineCall, narrative, title

JSONL_TYPES = {"application/x-ndjson", "application/jsonl", "application/json-lines", "text/plain"}
#: Lines stored per transaction: large enough to be quick, small enough that a WeChat message
#: waiting for the store waits for one chunk, not for a batch.
CHUNK = 100
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="feedbackloop-hotline"'}
NO_CREDENTIAL = (
    "话务系统凭证缺失、无效或已停用：请在 Authorization 头中以 Bearer 方式提供本话务系统的凭证"
    "（由管理员用 feedbackloop intake add-credential 生成）"
)
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No, a malformed, wrong or revoked call-centre credential"},
    429: {"description": "This credential posted too many calls this minute; see Retry-After"},
}
T = TypeVar("T")


def authenticate(request: Request) -> Holder:
    """The call-centre system posting, counted against its limit; 401 or 429 otherwise."""
    intake = get_intake(request)
    token = parse_token(request.headers.get("authorization"))
    centre = intake.systems.verify(token, kind=Kind.HOTLINE)
    if centre is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NO_CREDENTIAL, headers=CHALLENGE)
    try:
        intake.systems.admit(centre)
    except RateLimited as exc:
        limit = intake.settings.hotline_calls_per_minute
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"本话务系统每分钟最多提交 {limit} 个通话，请 {exc.retry_after} 秒后再提交",
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    return centre


class CallCentreRoute(APIRoute):
    """A route that authenticates the call centre before anything of the body is read.

    A dependency would run only after FastAPI has parsed the body, so a stranger's malformed
    JSON would be answered 422 (and read) instead of 401.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            # scrypt on a first sight of a secret: off the event loop.
            request.state.call_centre = await run_in_threadpool(authenticate, request)
            return await handler(request)

        return guarded


async def call_centre(request: Request) -> Holder:
    """The call centre `CallCentreRoute` authenticated."""
    centre: Holder = request.state.call_centre
    return centre


CallCentre = Annotated[Holder, Depends(call_centre)]
router = APIRouter(tags=["hotline"], route_class=CallCentreRoute)


def to_item(call: HotlineCall, centre: Holder) -> service.NewFeedback:
    """The channel-neutral item for a call; the reference names the centre that sent it."""
    return service.NewFeedback(
        channel=Channel.HOTLINE,
        channel_ref=f"{centre.credential_id}/{call.call_id}",
        title=title(call),
        text=narrative(call),
        contact_phone=call.caller_number,
        # They called the hotline and can be called back: implied only because an
        # authenticated call centre, not the caller's own say-so, vouches for the number.
        callback_consent=call.caller_number is not None,
        # Never implied: the agent asks and sets it only on the caller's yes.
        publication_consent=call.publication_consent,
        priority_hint=call.urgency_hint,
        category_hint=call.category_hint,
        request_type=call.request_type,
    )


@router.post(
    "/api/v1/hotline/calls",
    response_model=FeedbackAccepted,
    status_code=status.HTTP_201_CREATED,
    summary="来电工单 — one hotline call transcript; a repeat of a call_id answers 200",
    responses={
        200: {"description": "This call_id was accepted before; same ticket"},
        **AUTH_RESPONSES,
    },
)
def post_call(
    call: HotlineCall, response: Response, intake: IntakeDep, centre: CallCentre
) -> FeedbackAccepted:
    """Accept one call; idempotent by the centre's call_id."""
    accepted = accept_item(intake=intake, item=to_item(call, centre))
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return FeedbackAccepted(
        ticket_no=accepted.ticket_no,
        ticket_id=accepted.ticket_id,
        received_at=accepted.received_at,
        message=accepted_message(accepted.ticket_no),
        status_url=intake.settings.status_url(accepted.ticket_no),
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
    responses={
        413: {"description": "More lines than a batch may have; the first ones were taken"},
        415: {"description": "Not JSONL"},
        422: {"description": "A line longer than the cap; the lines before it were taken"},
        **AUTH_RESPONSES,
    },
)
async def post_calls_batch(request: Request, intake: IntakeDep, centre: CallCentre) -> Response:
    """Accept each good line, report each bad one; nothing accepted depends on the others."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSONL_TYPES:
        raise HTTPException(415, "请以 JSONL 格式（application/x-ndjson，每行一个通话）提交")
    settings = intake.settings
    workers: Executor = request.app.state.hotline_workers
    results: list[dict[str, Any]] = []
    chunk: list[tuple[int, bytes]] = []
    refusal: tuple[int, str] | None = None
    try:
        lines = _lines(request.stream(), max_line=settings.hotline_max_line_bytes)
        async for number, line in lines:
            if number > settings.hotline_max_batch_lines:
                refusal = (413, _too_many_lines(settings.hotline_max_batch_lines))
                break  # the rest of the body is never read
            if line.strip():
                chunk.append((number, line))
            if len(chunk) >= CHUNK:
                results += await _off_loop(workers, _take_lines, intake, centre, chunk)
                chunk = []
    except LineTooLong as exc:
        refusal = (422, _line_too_long(exc.number, settings.hotline_max_line_bytes))
    if chunk:
        results += await _off_loop(workers, _take_lines, intake, centre, chunk)
    intake.systems.record(centre, len(results) - 1)  # the request itself counted one
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    for result in results:
        counts[result["status"] if result["status"] != "duplicate" else "duplicates"] += 1
    if refusal is not None:
        status_code, detail = refusal
        return problem(status_code, detail, **counts, results=results)
    return JSONResponse({**counts, "results": results})


def _too_many_lines(limit: int) -> str:
    return (
        f"每批最多 {limit} 行，超出的部分没有读取：前 {limit} 行已按 results 处理，"
        "其余请另批提交（重复提交的通话不会重复立单）"
    )


def _line_too_long(number: int, limit: int) -> str:
    return (
        f"第 {number} 行超过 {limit // 1024} KB，从这一行起没有读取：之前的行已按 results 处理，"
        "请检查这一行后把它和其后的通话另批提交"
    )


async def _off_loop(workers: Executor, work: Callable[..., T], *args: Any) -> T:
    # The batch's own few threads: a flood of batches waits here instead of taking the
    # threads the other channels' requests run on.
    return await asyncio.get_running_loop().run_in_executor(workers, work, *args)


def _take_lines(
    intake: Intake, centre: Holder, lines: list[tuple[int, bytes]]
) -> list[dict[str, Any]]:
    """Results of a chunk of numbered lines, the good ones stored in one transaction."""
    results: list[dict[str, Any]] = []
    good: list[tuple[dict[str, Any], service.NewFeedback]] = []
    for number, line in lines:
        call = _parse(number, line)
        if isinstance(call, HotlineCall):
            result = {"line": number, "call_id": call.call_id}
            good.append((result, to_item(call, centre)))
        else:
            result = call
        results.append(result)
    for (result, _item), accepted in zip(
        good, accept_items(intake=intake, items=[item for _result, item in good]), strict=True
    ):
        result["status"] = "accepted" if accepted.created else "duplicate"
        result["ticket_no"] = accepted.ticket_no
    # Key order as clients have always seen it: line, status, call_id, ticket_no.
    return [{"line": r["line"], "status": r["status"], **r} for r in results]


def _parse(number: int, line: bytes) -> HotlineCall | dict[str, Any]:
    try:
        return HotlineCall.model_validate(json.loads(line))
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
    except RecursionError:  # absurdly nested JSON
        return _rejected(number, "body", "这一行嵌套太深，不是有效的通话记录")


def _rejected(number: int, field: str, message: str) -> dict[str, Any]:
    return {"line": number, "status": "rejected", "errors": [{"field": field, "message": message}]}


class LineTooLong(Exception):
    """A batch line longer than the cap; `number` is its line number."""

    def __init__(self, number: int) -> None:
        super().__init__(f"line {number} is too long")
        self.number = number


async def _lines(
    chunks: AsyncIterator[bytes], *, max_line: int
) -> AsyncIterator[tuple[int, bytes]]:
    """Numbered lines of a streamed body; each byte is copied once, at most `max_line` held."""
    pending = bytearray()
    number = 0
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if len(pending) + end - start > max_line:
                raise LineTooLong(number + 1)
            pending += chunk[start:end]
            number += 1
            yield number, bytes(pending)
            pending.clear()
            start = end + 1
        if len(pending) + len(chunk) - start > max_line:
            raise LineTooLong(number + 1)
        pending += chunk[start:]
    if pending:
        yield number + 1, bytes(pending)
