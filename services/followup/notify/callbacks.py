"""Callback tasks for hotline agents: the open list, one task, and marking a call done."""

from datetime import datetime

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from services.followup.notify.models import CallbackOutcome, CallbackTask


class CallbackAlreadyDone(Exception):
    """The task was already marked done (by this or another agent)."""


def list_open_callbacks(*, session: Session, limit: int = 50) -> list[CallbackTask]:
    """Callback tasks no agent has done yet, oldest first."""
    stmt = (
        select(CallbackTask)
        .where(CallbackTask.done_at.is_(None))
        .order_by(CallbackTask.created_at, CallbackTask.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def get_callback(*, session: Session, callback_id: int) -> CallbackTask | None:
    """One callback task by id."""
    return session.get(CallbackTask, callback_id)


def update_callback_done(
    *,
    session: Session,
    task: CallbackTask,
    agent: str,
    outcome: CallbackOutcome | str,
    now: datetime,
) -> CallbackTask:
    """Mark an open task done (ValueError: unknown outcome; CallbackAlreadyDone: done already)."""
    value = CallbackOutcome(outcome).value
    # Conditional on still being open, so two agents finishing the same call cannot both win.
    stmt = (
        update(CallbackTask)
        .where(CallbackTask.id == task.id, CallbackTask.done_at.is_(None))
        .values(done_at=now, done_by=agent, outcome=value)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    changed = result.rowcount
    session.refresh(task)
    if not changed:
        raise CallbackAlreadyDone(f"callback {task.id} was done by {task.done_by}")
    return task
