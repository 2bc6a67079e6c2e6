"""The request body cap every service installs: 413 problem+json past it, never a 5xx.

A body is refused as soon as it is known to be too large: at once when its Content-Length
says so (nothing is read), or when the bytes streamed so far (a chunked body, or one longer
than declared) pass the cap. In the streamed case the 413 is sent from here at the moment
the cap is passed, whatever the application then makes of the failed read: FastAPI turns an
error while parsing a body into a 400 of its own, which is dropped, so the answer does not
depend on which service, route or parser was reading.
"""

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

PROBLEM_JSON = b"application/problem+json"


class BodyTooLarge(Exception):
    """Raised to a reader of a request body that passed the cap (the 413 is on its way)."""


class BodySizeLimit:
    """Answers 413 when a request declares or streams more than `max_bytes`.

    `large_paths` gives some exact paths a larger cap (intake's hotline batches).
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, large_paths: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.large_paths = large_paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_paths.get(scope["path"], self.max_bytes)
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        if declared and any(not v.isdigit() or int(v) > limit for v in declared):
            await _reject(send, limit)
            return
        received = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await _reject(send, limit)
                    rejected = True
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected and not started:
                return  # the 413 went out already: whatever the app answers instead is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception as exc:
            if not rejected or started:
                raise  # not ours, or a response was under way: the server ends the connection
            # The answer is complete; what the app raised on its failed read is no news.
            log.debug("request body over %d bytes refused (%s)", limit, type(exc).__name__)


def too_large_problem(limit: int) -> dict[str, object]:
    """The problem document of a 413, in words a citizen understands."""
    size = f"{limit // 1024} KB" if limit >= 1024 else f"{limit} 字节"
    return {
        "type": "about:blank",
        "title": "提交的内容太大",
        "status": 413,
        "detail": f"提交的内容超过了 {size} 的上限，请删减后重新提交",
    }


async def _reject(send: Send, limit: int) -> None:
    payload = json.dumps(too_large_problem(limit), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON),
                (b"content-length", str(len(payload)).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
