"""The router's operator API: the triage queue (人工分派)."""

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field

from feedbackloop.events import Candidate, FeedbackReceived, decode
from feedbackloop.web.credentials import bearer_token
from services.router import flows, service
from services.router.cohandling import CoHandling, co_handling

router = APIRouter(tags=["triage"])


def require_operator(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Only the 12345 centre's operators may see and assign triaged items."""
    # Starlette hands header bytes over as Latin-1 text, which compare_digest refuses unless
    # ASCII (a 500): the shared parser admits printable ASCII only, and bytes are compared.
    token = bearer_token(authorization)
    expected = request.app.state.settings.operator_token.encode()
    if token is None or not secrets.compare_digest(token.encode(), expected):
        raise HTTPException(401, "请使用接线员凭证登录后再操作", {"WWW-Authenticate": "Bearer"})


OperatorDep = Depends(require_operator)


class TriageOut(BaseModel):
    """An item waiting for an operator, with the model's best guesses."""

    ticket_no: str
    title: str | None
    text: str
    channel: str
    priority: str
    received_at: datetime
    candidates: list[Candidate] = Field(description="Top departments with probabilities")
    co_handling: CoHandling | None = Field(
        default=None,
        description="Suggested lead (主办) and co-handling (协办) units when the model finds "
        "two departments both likely; null otherwise.",
    )


class AssignIn(BaseModel):
    """The operator's choice."""

    department_code: str = Field(min_length=1, max_length=48, description="主办（承办）单位编号")
    operator: str = Field(min_length=1, max_length=80, description="接线员姓名或工号")
    co_department_codes: list[Annotated[str, Field(min_length=1, max_length=48)]] = Field(
        default=[], max_length=5, description="协办单位编号，可不填，最多 5 个"
    )


class AssignOut(BaseModel):
    """Where the item went."""

    ticket_no: str
    department_code: str
    department_name: str


@router.get("/api/v1/triage", response_model=list[TriageOut], dependencies=[OperatorDep])
def list_triage(
    request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[TriageOut]:
    """待分派 — items the model was unsure about, oldest first, with its top-3 departments."""
    with request.app.state.sessions() as session:
        items = service.list_open_triage(session=session, limit=limit)
        out = []
        for item in items:
            data = decode(item.received_event, expect=FeedbackReceived).data
            candidates = service.candidates_of(item)
            out.append(
                TriageOut(
                    ticket_no=item.ticket_no,
                    title=data.title,
                    text=data.text,
                    channel=data.channel.value,
                    priority=item.priority,
                    received_at=data.received_at,
                    candidates=candidates,
                    co_handling=co_handling(candidates),
                )
            )
    return out


@router.post(
    "/api/v1/triage/{ticket_no}/assign", response_model=AssignOut, dependencies=[OperatorDep]
)
async def assign(ticket_no: str, body: AssignIn, request: Request) -> AssignOut:
    """分派 — send a triaged item to the department the operator chose."""
    state = request.app.state
    try:
        done = await flows.assign(
            sessions=state.sessions,
            table=state.table,
            publish=state.publish,
            ticket_no=ticket_no,
            department_code=body.department_code,
            operator=body.operator,
            co_department_codes=body.co_department_codes,
        )
    except flows.AssignError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    return AssignOut(
        ticket_no=done.ticket_no,
        department_code=done.department_code,
        department_name=done.department_name,
    )


class HotspotOut(BaseModel):
    """A burst of items about one place."""

    place: str
    category: str
    ticket_nos: list[str]
    window_hours: float
    first_at: datetime
    last_at: datetime


@router.get("/api/v1/hotspots", response_model=list[HotspotOut], dependencies=[OperatorDep])
def list_hotspots(
    request: Request,
    days: Annotated[float, Query(gt=0, le=90)] = 7,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HotspotOut]:
    """热点 — bursts of items about one place in the last `days` days, the latest first."""
    since = datetime.now(UTC) - timedelta(days=days)
    with request.app.state.sessions() as session:
        found = service.list_hotspots(session=session, since=since, limit=limit)
        return [
            HotspotOut(
                place=h.place,
                category=h.category,
                ticket_nos=json.loads(h.ticket_nos),
                window_hours=h.window_hours,
                first_at=h.first_at,
                last_at=h.last_at,
            )
            for h in found
        ]
