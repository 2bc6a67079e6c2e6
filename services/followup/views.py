"""Followup's HTTP routes: reading tickets."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from services.followup import service

router = APIRouter()

STATE_LABELS = {
    "received": "已受理",
    "triage": "人工分派中",
    "routed": "已派单",
    "accepted": "办理中",
    "returned": "退回重派中",
    "resolved": "已办结",
    "surveyed": "已回访",
    "reopened": "重新办理中",
    "merged": "已合并",
    "closed": "已结案",
}


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]


class TimelineEntry(BaseModel):
    """One step in a ticket's life."""

    kind: str
    state_to: str
    actor: str
    reason: str | None
    occurred_at: datetime


class TicketOut(BaseModel):
    """A ticket as followup knows it (no personal data)."""

    ticket_no: str
    state: str
    state_label: str = Field(description="State in Chinese, for people")
    priority: str
    department_code: str
    department_name: str
    routing_method: str
    title: str | None
    received_at: datetime
    routed_at: datetime
    due_at: datetime
    timeline: list[TimelineEntry]


@router.get("/api/v1/tickets/{ticket_no}", response_model=TicketOut, summary="查询工单 — a ticket")
def get_ticket(ticket_no: str, sessions: SessionsDep) -> TicketOut:
    """A ticket with its deadline and timeline, by ticket number."""
    with sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=ticket_no.strip())
        if ticket is None:
            raise HTTPException(
                404, f"没有找到工单 {ticket_no}，请核对工单号；刚提交的工单可能需要几秒钟才能查到"
            )
        timeline = service.get_timeline(session=session, ticket_id=ticket.id)
    return TicketOut(
        ticket_no=ticket.ticket_no,
        state=ticket.state,
        state_label=STATE_LABELS.get(ticket.state, ticket.state),
        priority=ticket.priority,
        department_code=ticket.department_code,
        department_name=ticket.department_name,
        routing_method=ticket.routing_method,
        title=ticket.title,
        received_at=ticket.received_at,
        routed_at=ticket.routed_at,
        due_at=ticket.due_at,
        timeline=[
            TimelineEntry(
                kind=e.kind,
                state_to=e.state_to,
                actor=e.actor,
                reason=e.reason,
                occurred_at=e.occurred_at,
            )
            for e in timeline
        ],
    )


@router.get("/healthz", summary="Liveness")
def healthz(request: Request) -> dict[str, str]:
    """Whether followup and its stream processor run."""
    stream = request.app.state.faust
    return {"status": "failed" if stream is not None and stream.crashed else "ok"}
