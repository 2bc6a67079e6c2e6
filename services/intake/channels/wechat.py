"""The WeChat official account channel: the server callback (公众号服务器配置).

WeChat waits five seconds for a passive reply and retries the same message up to three
times. Every item is committed to the local outbox before the answer, keyed by its MsgId,
so a retry finds the first ticket and gets the byte-identical reply; Kafka is never on
this path.
"""

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from services.intake.deps import Intake, IntakeDep
from services.intake.flows import accept_item
from services.intake.limits import RateLimited
from services.intake.problems import problem
from services.intake.ticket_progress import progress_answer
from services.intake.wechat_crypto import Rejected, SafeMode, check_fresh, check_request
from services.intake.wechat_direct import consult, file_answered
from services.intake.wechat_messages import (
    Acknowledge,
    Action,
    AskProgress,
    FileAnswered,
    Inbound,
    Say,
    Submit,
    accepted_reply,
    interpret,
    rate_limited_reply,
    read_inbound,
)
from services.intake.wechat_replay import Replayed, bind_body
from services.intake.wechat_xml import MalformedMessage, parse_fields, render_text_reply

log = logging.getLogger(__name__)

router = APIRouter(tags=["wechat"])

PATH = "/api/v1/wechat"
FORBIDDEN = "签名校验失败或请求已过期：请求不是来自微信服务器"
REPLAYED = "该签名的 timestamp 和 nonce 已用于另一条消息：请求被拒绝，疑似重放"
PLAINTEXT_REFUSED = (
    "本公众号已开启安全模式（配置了 EncodingAESKey），只接受加密消息（encrypt_type=aes）；"
    "请在公众号后台把消息加解密方式设为安全模式"
)

QueryValue = Annotated[str | None, Query(max_length=128)]


@dataclass(frozen=True)
class CallbackQuery:
    """The query parameters WeChat signs a callback with."""

    signature: str | None
    timestamp: str | None
    nonce: str | None
    encrypt_type: str | None
    msg_signature: str | None


@router.get(
    PATH,
    response_class=PlainTextResponse,
    summary="微信服务器地址验证 — WeChat server URL verification",
    responses={400: {"description": "No echostr"}, 403: {"description": "Bad signature"}},
)
def verify_url(
    intake: IntakeDep,
    signature: QueryValue = None,
    timestamp: QueryValue = None,
    nonce: QueryValue = None,
    echostr: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Echo `echostr` back when the signature proves the request comes from WeChat."""
    try:
        check_request(
            token=intake.settings.wechat_token,
            signature=signature,
            timestamp=timestamp,
            nonce=nonce,
        )
    except Rejected as exc:
        log.info("wechat URL verification refused: %s", exc)
        return problem(403, FORBIDDEN)
    if not echostr:
        return problem(400, "缺少 echostr 参数")
    return PlainTextResponse(echostr)


@router.post(
    PATH,
    summary="微信消息推送 — WeChat message callback (plaintext or AES safe mode)",
    description=(
        "Takes WeChat's XML push and answers with a passive text reply (XML; encrypted in "
        "safe mode) giving the ticket number, the progress of a `查询 <工单号>` query, or "
        '"success" for events that need no answer.'
    ),
    responses={
        200: {"description": "Passive reply XML, or 'success'"},
        400: {"description": "Malformed XML or message fields"},
        403: {"description": "Bad signature or stale timestamp"},
        413: {"description": "Body too large"},
    },
)
async def receive(
    request: Request,
    intake: IntakeDep,
    signature: QueryValue = None,
    timestamp: QueryValue = None,
    nonce: QueryValue = None,
    encrypt_type: QueryValue = None,
    msg_signature: QueryValue = None,
) -> Response:
    """Accept a message from WeChat and reply within WeChat's five seconds."""
    body = await request.body()  # already capped by the BodySizeLimit middleware
    query = CallbackQuery(signature, timestamp, nonce, encrypt_type, msg_signature)
    # Committing is blocking database work: keep it off the event loop.
    return await run_in_threadpool(_handle, intake=intake, body=body, query=query)


def _handle(*, intake: Intake, body: bytes, query: CallbackQuery) -> Response:
    settings = intake.settings
    safe_mode: SafeMode | None = None
    mode = (query.encrypt_type or "raw").lower()
    if mode == "raw" and settings.wechat_encoding_aes_key:
        # With a key set, plaintext would let anyone leave the encryption off (a downgrade).
        log.info("wechat callback refused: plaintext push while safe mode is configured")
        return problem(403, PLAINTEXT_REFUSED)
    try:
        if mode == "aes":
            safe_mode = _safe_mode(intake)
            check_fresh(query.timestamp)
            encrypted = parse_fields(body).get("Encrypt", "").strip()
            if not encrypted:
                raise MalformedMessage("安全模式的消息缺少 Encrypt 字段")
            inner = safe_mode.decrypt(
                encrypted=encrypted,
                msg_signature=query.msg_signature,
                timestamp=query.timestamp,
                nonce=query.nonce,
            )
            _bind(intake=intake, query=query, body=body)
            fields = parse_fields(inner)
        elif mode == "raw":
            check_request(
                token=settings.wechat_token,
                signature=query.signature,
                timestamp=query.timestamp,
                nonce=query.nonce,
            )
            _bind(intake=intake, query=query, body=body)
            fields = parse_fields(body)
        else:
            raise MalformedMessage("不支持的 encrypt_type，应当是 aes 或 raw")
        message = read_inbound(fields)
        action = interpret(message)
    except Replayed as exc:
        log.warning("wechat callback refused: %s", exc)
        return problem(403, REPLAYED)
    except Rejected as exc:
        log.info("wechat callback refused: %s", exc)
        return problem(403, FORBIDDEN)
    except MalformedMessage as exc:
        return problem(400, exc.detail)
    text = _perform(intake=intake, message=message, action=action)
    if text is None:
        return PlainTextResponse("success")
    # The reply's time is the message's, not now: a retry must get the same bytes.
    xml = render_text_reply(
        openid=message.openid,
        account=message.account,
        content=text,
        create_time=message.create_time,
    )
    if safe_mode is not None:
        xml = safe_mode.encrypt(xml, seed=message.channel_ref, timestamp=message.create_time)
    return Response(xml, media_type="application/xml")


def _bind(*, intake: Intake, query: CallbackQuery, body: bytes) -> None:
    """Bind the verified (timestamp, nonce) to this body; Replayed if it carried another."""
    # Both are checked by now: the signature covers them and the timestamp is fresh.
    assert query.timestamp is not None and query.nonce is not None
    bind_body(
        sessions=intake.sessions,
        write_guard=intake.write_guard,
        timestamp=query.timestamp,
        nonce=query.nonce,
        body=body,
    )


def _safe_mode(intake: Intake) -> SafeMode:
    settings = intake.settings
    if not settings.wechat_encoding_aes_key:
        raise MalformedMessage("本服务未开启安全模式（未配置 EncodingAESKey），请以明文模式推送")
    return SafeMode(
        token=settings.wechat_token,
        encoding_aes_key=settings.wechat_encoding_aes_key,
        app_id=settings.wechat_app_id,
    )


def _perform(*, intake: Intake, message: Inbound, action: Action) -> str | None:
    """Carry out an action; the reply text, or None for a bare "success"."""
    if isinstance(action, Acknowledge):
        return None
    if isinstance(action, Say):
        return action.text
    if isinstance(action, AskProgress):
        with intake.sessions() as session:
            return progress_answer(
                session=session, ticket_no=action.ticket_no, openid=message.openid
            )
    if isinstance(action, FileAnswered):
        return file_answered(intake=intake, message=message)
    assert isinstance(action, Submit)
    answered = consult(intake=intake, message=message, item=action.item)
    if answered is not None:
        return answered
    try:
        accepted = accept_item(
            intake=intake, item=action.item, limit_keys=(f"openid:{message.openid}",)
        )
    except RateLimited as exc:
        # WeChat shows any non-200 to the citizen as a broken account: say it in words.
        return rate_limited_reply(exc.retry_after)
    if accepted.created:
        log.info("wechat %s accepted as ticket %s", message.msg_type, accepted.ticket_no)
    return accepted_reply(accepted.ticket_no, action.note)
