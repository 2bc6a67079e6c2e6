"""Departments and citizens acting out a replayed plan through followup's workbench API.

Each department accepts (签收) its ticket `accept_after` and resolves it (办结) with the real
reply `resolve_after` after the ticket appears, both divided by the speed-up; then, for a
hotline call, an agent records the caller's planned callback-survey (回访) answer once followup
has opened the survey. Web and WeChat citizens answer through their own survey link, which
followup sends by SMS or WeChat and operators may not answer for, so the simulation leaves
those surveys open. Credentials are followup's: one per department, and an operator's.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from feedbackloop.simulate.plan import PlannedItem

TICKETS = "/api/v1/workbench/tickets"


@dataclass(frozen=True)
class Credentials:
    """Bearer tokens: an operator's, and one per department code."""

    operator: str
    departments: dict[str, str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Credentials":
        """{"operator": "...", "departments": {"water": "...", ...}}."""
        return cls(operator=str(data["operator"]), departments=dict(data["departments"]))


async def _until(
    call: Callable[[], Awaitable[httpx.Response]], *, deadline: float, done: set[int]
) -> httpx.Response:
    """Repeat a request until its status is in `done` (a ticket not there yet, a survey not
    opened yet and a restarting service all answer otherwise for a while)."""
    while True:
        try:
            reply = await call()
            if reply.status_code in done:
                return reply
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {sorted(done)}")
        await asyncio.sleep(0.2)


async def act(
    work: list[tuple[PlannedItem, str]],
    *,
    followup_url: str,
    credentials: Credentials,
    speed: float,
    concurrency: int = 32,
    give_up: float = 600.0,
) -> Counter[str]:
    """Act out each (planned item, ticket number); what happened, counted."""
    outcome: Counter[str] = Counter()
    slots = asyncio.Semaphore(concurrency)
    operator = {"Authorization": f"Bearer {credentials.operator}"}
    deadline = time.monotonic() + give_up

    async def one(client: httpx.AsyncClient, item: PlannedItem, ticket_no: str) -> None:
        url = f"{TICKETS}/{ticket_no}"
        async with slots:
            ticket = await _until(
                lambda: client.get(url, headers=operator), deadline=deadline, done={200}
            )
        appeared = time.monotonic()
        token = credentials.departments.get(ticket.json()["department_code"])
        if token is None:  # triaged, or a department the simulation has no clerk for
            outcome["no clerk"] += 1
            return
        clerk = {"Authorization": f"Bearer {token}"}
        await asyncio.sleep(max(0.0, appeared + item.accept_after / speed - time.monotonic()))
        async with slots:
            await _until(
                lambda: client.post(f"{url}/accept", headers=clerk), deadline=deadline, done={200}
            )
        await asyncio.sleep(max(0.0, appeared + item.resolve_after / speed - time.monotonic()))
        async with slots:
            await _until(
                lambda: client.post(f"{url}/resolve", headers=clerk, json={"text": item.reply}),
                deadline=deadline,
                done={200},
            )
        outcome["resolved"] += 1
        if item.survey == "none":
            return
        if item.channel != "hotline":
            outcome["survey left to the citizen's link"] += 1
            return
        answer = {"contacted": True, "solved": item.solved, "satisfaction": item.survey}
        async with slots:
            await _until(
                lambda: client.post(f"{url}/survey", headers=operator, json=answer),
                deadline=deadline,
                done={200},
            )
        outcome[f"survey {item.survey}"] += 1

    async with httpx.AsyncClient(base_url=followup_url, timeout=30) as client:
        results = await asyncio.gather(
            *(one(client, item, no) for item, no in work), return_exceptions=True
        )
    for result in results:
        if isinstance(result, BaseException):
            outcome[f"failed: {type(result).__name__}"] += 1
    return outcome
