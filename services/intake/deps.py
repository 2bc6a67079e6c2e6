"""What every intake route needs, bundled once per process and injected with `IntakeDep`."""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.group_commit import GroupCommit
from feedbackloop.runtime.outbox import OutboxRelay
from services.intake.config import Settings
from services.intake.credentials import Systems
from services.intake.knowledge import KnowledgeBase
from services.intake.limits import RateLimiter
from services.intake.metrics import IntakeMetrics
from services.intake.privacy import ContactCipher
from services.intake.service import Accepted, NewFeedback


@dataclass(frozen=True)
class Intake:
    """The parts of one intake process."""

    settings: Settings
    sessions: sessionmaker[Session]
    relay: OutboxRelay
    metrics: IntakeMetrics
    limiter: RateLimiter
    #: Call centres' and Open311 apps' credentials, and their per-system limits.
    systems: Systems
    cipher: ContactCipher
    write_guard: AbstractContextManager[object]
    #: Commits concurrent requests' items together (see `accept_item`).
    committer: GroupCommit[NewFeedback, Accepted]
    #: followup's knowledge base, for direct answers (None: not configured).
    knowledge: KnowledgeBase | None = None
    #: Open311 list and update queries per client address (None: not limited).
    open311_reads: RateLimiter | None = None


def get_intake(request: Request) -> Intake:
    """The intake bundle of the application serving the request."""
    intake: Intake = request.app.state.intake
    return intake


async def _intake(request: Request) -> Intake:
    # A coroutine: FastAPI runs a plain function dependency on a worker thread, a hop per
    # request for a dictionary lookup.
    return get_intake(request)


IntakeDep = Annotated[Intake, Depends(_intake)]
