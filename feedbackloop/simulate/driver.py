"""Replaying a plan through intake's real channels, as the peers would send it.

- hotline: the call centre's system posts finished calls as JSONL batches;
- WeChat: signed XML pushes, one per message, answered with the ticket number;
- web: the JSON API with an Idempotency-Key.

Every request is retried until the deadline on connection errors, 429 and 5xx, with the same
call id, MsgId or Idempotency-Key, so a retry after an intake crash never makes a second
ticket. An item counts as accepted once intake has answered it with a ticket number.
"""

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from wechatpy.utils import WeChatSigner

from feedbackloop.simulate.plan import PlannedItem

log = logging.getLogger(__name__)

_TICKET_NO = re.compile(r"\d{13,}")
HOTLINE_BATCH = 200
WECHAT_CHARS = 4000
_RETRYABLE = {429, 500, 502, 503, 504}


class Rejected(Exception):
    """Intake refused an item with a 4xx: the plan, not the system, is wrong."""


@dataclass
class Outcome:
    """What became of one planned item."""

    n: int
    channel: str
    ticket_no: str | None
    status: str  # accepted, duplicate (already accepted earlier), rejected
    attempts: int
    #: Wall-clock seconds from the item's due moment to intake's answer.
    seconds: float
    error: str | None = None


class IntakeClient:
    """Submits planned items through intake's channels, retrying until a deadline."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        wechat_token: str,
        give_up: float,
        hotline_token: str | None = None,
    ) -> None:
        self._client = client
        self._wechat_token = wechat_token
        self._give_up = give_up
        self._hotline_token = hotline_token

    async def _send(self, request: Callable[[], Awaitable[httpx.Response]]) -> tuple[Any, int]:
        """The response of the first attempt that is neither a crash nor a 429/5xx."""
        deadline = time.monotonic() + self._give_up
        attempts, pause = 0, 0.1
        while True:
            attempts += 1
            try:
                reply = await request()
                if reply.status_code not in _RETRYABLE:
                    if reply.status_code >= 400:
                        raise Rejected(f"{reply.status_code}: {reply.text[:300]}")
                    return reply, attempts
                wait = float(reply.headers.get("retry-after", pause))
            except httpx.TransportError as exc:
                log.debug("intake unreachable (%s); retrying", exc)
                wait = pause
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"intake did not take the item in {self._give_up} s")
            await asyncio.sleep(wait)
            pause = min(pause * 2, 2.0)

    async def web(self, item: PlannedItem) -> tuple[str, int]:
        """Submit through the JSON API; (ticket number, attempts)."""
        body = {"title": item.title or None, "text": item.text}
        reply, attempts = await self._send(
            lambda: self._client.post(
                "/api/v1/feedback", json=body, headers={"Idempotency-Key": item.key}
            )
        )
        return str(reply.json()["ticket_no"]), attempts

    async def wechat(self, item: PlannedItem, *, created: int) -> tuple[str, int]:
        """Push as WeChat would (a retry carries the same MsgId and CreateTime)."""
        digest = hashlib.sha256(item.key.encode()).hexdigest()
        # A WeChat message carries at most intake's 4000 characters; longer letters are cut
        # as a citizen would shorten them.
        content = (f"{item.title}\n{item.text}" if item.title else item.text)[:WECHAT_CHARS]
        xml = (
            "<xml><ToUserName><![CDATA[gh_12345]]></ToUserName>"
            f"<FromUserName><![CDATA[oSim{digest[:24]}]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content.replace(']]>', ']] >')}]]></Content>"
            f"<MsgId>{int(digest[:15], 16)}</MsgId></xml>"
        ).encode()

        def signed() -> Awaitable[httpx.Response]:
            timestamp, nonce = str(int(time.time())), digest[24:34]
            signer = WeChatSigner()
            signer.add_data(self._wechat_token, timestamp, nonce)
            query = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}
            return self._client.post("/api/v1/wechat", params=query, content=xml)

        reply, attempts = await self._send(signed)
        found = _TICKET_NO.search(reply.text)
        if found is None:
            raise Rejected(f"the WeChat reply names no ticket: {reply.text[:200]}")
        return found.group(0), attempts

    async def hotline(self, items: list[PlannedItem], *, day: datetime) -> dict[str, Any]:
        """Post finished calls as one JSONL batch; the per-line results by call id."""
        lines = [json.dumps(_call(item, day), ensure_ascii=False) for item in items]
        reply, attempts = await self._send(
            lambda: self._client.post(
                "/api/v1/hotline/calls:batch",
                content="\n".join(lines).encode(),
                headers={
                    "Content-Type": "application/x-ndjson",
                    # The call centre's credential; without one intake answers 401.
                    "Authorization": f"Bearer {self._hotline_token or ''}",
                },
            )
        )
        return {"attempts": attempts, **{r.get("call_id", ""): r for r in reply.json()["results"]}}


def _call(item: PlannedItem, day: datetime) -> dict[str, Any]:
    """A finished call as the call centre's system describes it."""
    started = day + timedelta(seconds=item.at)
    greeting = {"speaker": "agent", "text": "您好，12345热线。", "start_ms": 0, "end_ms": 1500}
    said = f"{item.title}。{item.text}" if item.title else item.text
    return {
        "call_id": item.key,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=3)).isoformat(),
        "agent_id": "sim-agent",
        "turns": [greeting, {"speaker": "caller", "text": said, "start_ms": 1600, "end_ms": 60000}],
    }


async def replay(
    planned: list[PlannedItem],
    *,
    intake_url: str,
    wechat_token: str,
    speed: float | None,
    concurrency: int = 32,
    give_up: float = 300.0,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    hotline_token: str | None = None,
) -> list[Outcome]:
    """Send every planned item at its moment (the day sped up `speed` times, or at once)."""
    outcomes: list[Outcome] = []
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    def due(item: PlannedItem) -> float:
        return started + (item.at / speed if speed else 0.0)

    async with httpx.AsyncClient(base_url=intake_url, timeout=30, limits=limits) as client:
        intake = IntakeClient(
            client, wechat_token=wechat_token, give_up=give_up, hotline_token=hotline_token
        )

        async def one(item: PlannedItem) -> None:
            async with slots:
                try:
                    if item.channel == "web":
                        ticket_no, attempts = await intake.web(item)
                    else:
                        ticket_no, attempts = await intake.wechat(item, created=int(time.time()))
                    done(
                        Outcome(
                            item.n,
                            item.channel,
                            ticket_no,
                            "accepted",
                            attempts,
                            time.monotonic() - due(item),
                        )
                    )
                except (Rejected, TimeoutError) as exc:
                    done(
                        Outcome(
                            item.n,
                            item.channel,
                            None,
                            "rejected",
                            0,
                            time.monotonic() - due(item),
                            str(exc),
                        )
                    )

        async def calls(batch: list[PlannedItem]) -> None:
            async with slots:
                try:
                    results = await intake.hotline(batch, day=day)
                except (Rejected, TimeoutError) as exc:
                    results = {"attempts": 0, "error": str(exc)}
            for item in batch:
                result = results.get(item.key, {})
                ok = result.get("status") in ("accepted", "duplicate")
                done(
                    Outcome(
                        item.n,
                        "hotline",
                        result.get("ticket_no") if ok else None,
                        "accepted" if ok else "rejected",
                        results["attempts"],
                        time.monotonic() - due(item),
                        None if ok else str(result or results.get("error")),
                    )
                )

        tasks: list[asyncio.Task[None]] = []
        waiting: list[PlannedItem] = []
        flushed = time.monotonic()
        for item in planned:
            delay = due(item) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if item.channel == "hotline":
                waiting.append(item)
            else:
                tasks.append(asyncio.create_task(one(item)))
            # Calls go in batches: when one is full, or half a second after the last.
            if len(waiting) >= HOTLINE_BATCH or (waiting and time.monotonic() - flushed > 0.5):
                tasks.append(asyncio.create_task(calls(waiting)))
                waiting, flushed = [], time.monotonic()
            if len(tasks) > 4 * concurrency:  # keep memory flat on a long replay
                tasks = [t for t in tasks if not t.done()]
                if len(tasks) > 4 * concurrency:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if waiting:
            tasks.append(asyncio.create_task(calls(waiting)))
        await asyncio.gather(*tasks)
    return sorted(outcomes, key=lambda o: o.n)
