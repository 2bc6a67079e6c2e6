"""Abuse limits: the request body size cap and per-source rate limits."""

import json
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = {
    "type": "about:blank",
    "title": "提交的内容太大",
    "status": 413,
}


class BodySizeLimit:
    """Answers 413 when a request declares or streams more than `max_bytes`."""

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
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._reject(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        body = dict(TOO_LARGE, detail=f"请将内容控制在 {limit // 1024} KB 以内")
        payload = json.dumps(body, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    pass


class RateLimited(Exception):
    """Too many items from one source; `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """Sliding one-minute window per key (an IP, an openid, a phone), in this process.

    Each intake replica limits on its own; behind a load balancer the effective limit is the
    per-replica limit times the replicas a source is spread over, which is fine for abuse
    control and needs no shared store.
    """

    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str | None) -> None:
        """Count one item against every key given; raise RateLimited if any is over."""
        now = self._clock()
        with self._lock:
            if len(self._hits) > 100_000:
                self._forget_idle(now)
            waits = []
            for key in filter(None, keys):
                hits = self._hits.setdefault(key, deque())
                while hits and hits[0] <= now - 60:
                    hits.popleft()
                if len(hits) >= self._per_minute:
                    waits.append(int(hits[0] + 60 - now) + 1)
            if waits:
                raise RateLimited(max(waits))
            for key in filter(None, keys):
                self._hits[key].append(now)

    def _forget_idle(self, now: float) -> None:
        idle = [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - 60]
        for key in idle:
            del self._hits[key]
