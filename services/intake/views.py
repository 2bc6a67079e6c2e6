"""Intake's operational routes: health."""

from fastapi import APIRouter

from services.intake import service
from services.intake.deps import IntakeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and outbox state")
def healthz(intake: IntakeDep) -> dict[str, object]:
    """Whether intake runs, how many items wait for Kafka, and whether Kafka answers."""
    with intake.sessions() as session:
        pending = service.count_unsent(session=session)
    return {"status": "ok", "outbox_pending": pending, "kafka": intake.relay.broker_available}
