"""The hotline agents' callback list (回访/回复电话): calls to make, and what came of them."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict

from services.followup.auth import Role
from services.followup.deps import FollowupDep, PrincipalDep, require
from services.followup.notify import (
    CallbackAlreadyDone,
    CallbackOutcome,
    get_callback,
    list_open_callbacks,
    update_callback_done,
)

router = APIRouter(prefix="/api/v1/workbench/callbacks")


class CallbackOut(BaseModel):
    """A call an agent should make."""

    id: int
    ticket_no: str
    phone_masked: str
    purpose: str
    text: str
    created_at: datetime


class CallbackDoneIn(BaseModel):
    """How the call went."""

    model_config = ConfigDict(extra="forbid")

    outcome: CallbackOutcome


@router.get("", response_model=list[CallbackOut], summary="待回电列表")
def list_callbacks(
    followup: FollowupDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[CallbackOut]:
    """Calls still to make, oldest first."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions() as session:
        tasks = list_open_callbacks(session=session, limit=limit)
        return [CallbackOut.model_validate(t, from_attributes=True) for t in tasks]


@router.post("/{callback_id}/done", response_model=CallbackOut, summary="回电完成")
def mark_done(
    # Bounded to what the store's integer column holds: a larger one is a 422, not a 500.
    callback_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: CallbackDoneIn,
    followup: FollowupDep,
    principal: PrincipalDep,
) -> CallbackOut:
    """Record how a call went; a call is recorded once."""
    require(principal, Role.OPERATOR, Role.SUPERVISOR)
    with followup.sessions.begin() as session:
        task = get_callback(session=session, callback_id=callback_id)
        if task is None:
            raise HTTPException(404, f"没有编号为 {callback_id} 的回电任务")
        try:
            update_callback_done(
                session=session,
                task=task,
                agent=principal.actor,
                outcome=body.outcome,
                now=datetime.now(UTC),
            )
        except CallbackAlreadyDone as exc:
            raise HTTPException(409, "这条回电任务已经处理过了") from exc
        return CallbackOut.model_validate(task, from_attributes=True)
