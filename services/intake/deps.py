"""What every intake route needs, bundled once per process and injected with `IntakeDep`."""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.outbox import OutboxRelay
from services.intake.config import Settings
from services.intake.credentials import Systems
from services.intake.limits import RateLimiter
from services.intake.metrics import IntakeMetrics
from services.intake.privacy import ContactCipher


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


def get_intake(request: Request) -> Intake:
    """The intake bundle of the application serving the request."""
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(get_intake)]
