"""Request and response bodies of followup's HTTP API."""

import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from feedbackloop.events import TicketState
from services.followup import clocks, cohandling, merges, service
from services.followup.models import Clock, Ticket
from services.followup.returns import REASONS
from services.followup.states import STATE_LABELS
from services.followup.surveys import Satisfaction, Solved


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TextIn(_In):
    """A text a clerk writes (note, reply, resolution)."""

    text: str = Field(min_length=1, max_length=2000, description="内容，1-2000字")


class ResolveIn(TextIn):
    """办结: the reply, and whether the unit finds the request unreasonable."""

    unreasonable: bool = Field(
        default=False,
        description="不合理诉求：单位认为诉求不合理时为 true，答复内容即理由，由中心审核",
    )


class UnreasonableReviewIn(_In):
    """The centre's decision on a unit's 不合理诉求 mark."""

    accept: bool = Field(
        description="true 认定不合理（不计入该单位解决率、满意率），false 不予认定"
    )
    reason: str = Field(min_length=2, max_length=500, description="审核意见，2-500字")


class ReasonIn(_In):
    """Why (return, pause, closing)."""

    reason: str = Field(min_length=2, max_length=500, description="原因，2-500字")


class MergeIn(ReasonIn):
    """并单: the ticket this one is about the same matter as."""

    master_no: str = Field(min_length=13, max_length=20, pattern=r"^\d+$", description="主工单号")


class CoHandlersIn(_In):
    """协办: the units to co-handle a ticket with its lead unit."""

    department_codes: list[
        Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.-]+$")]
    ] = Field(min_length=1, max_length=5, description="协办单位代码，1-5个")


class PartIn(_In):
    """One problem of a call about several (拆分)."""

    title: str | None = Field(default=None, max_length=100, description="标题，可不填")
    text: str = Field(min_length=5, max_length=2000, description="这一项诉求的内容，5-2000字")


class SplitIn(ReasonIn):
    """拆分: the problems, each routed on its own."""

    parts: list[PartIn] = Field(min_length=2, max_length=5, description="拆分后的诉求，2-5项")


class ReturnIn(ReasonIn):
    """退单: why the ticket is not this unit's, as a code of the taxonomy and in words."""

    reason_code: str = Field(
        max_length=32,
        description="退单原因：" + "，".join(f"{c} {label}" for c, label in REASONS.items()),
    )

    @field_validator("reason_code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        if value not in REASONS:
            raise ValueError("请选择退单原因")
        return value


class ReturnReviewIn(_In):
    """The centre's decision on a unit's return."""

    approve: bool = Field(
        description="true 同意退单（改派其他单位），false 不同意（原单位继续办理）"
    )
    reason: str = Field(min_length=2, max_length=500, description="审核意见，2-500字")


class ExtensionIn(_In):
    """A request for more working days."""

    working_days: int = Field(ge=1, le=30, description="延长的工作日数，1-30")
    reason: str = Field(min_length=2, max_length=500, description="申请理由")


class DecisionIn(_In):
    """An operator's decision on an extension request."""

    approve: bool = Field(description="true 同意，false 不同意")


class SurveyAnswerIn(_In):
    """The citizen's answer to the callback survey."""

    solved: Solved = Field(description="solved 已解决 / partly 部分解决 / not 未解决")
    satisfaction: Satisfaction = Field(
        description="satisfied 满意 / basically 基本满意 / dissatisfied 不满意"
    )
    comment: str | None = Field(default=None, max_length=500, description="意见建议（选填）")
    contacted: bool | None = Field(
        default=None, description="承办单位是否与您联系：true 是，false 否；不填表示未询问"
    )

    @field_validator("comment")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class TimelineEntry(BaseModel):
    """One step in a ticket's life."""

    kind: str
    state_to: str
    actor: str
    reason: str | None
    occurred_at: datetime


class TicketOut(BaseModel):
    """A ticket in a queue."""

    ticket_no: str
    state: str
    state_label: str = Field(description="State in Chinese, for people")
    priority: str
    category: str | None
    department_code: str
    department_name: str
    title: str | None
    received_at: datetime
    due_at: datetime
    overdue: bool
    sla_state: clocks.SlaState | None = Field(
        default=None,
        description="on_time, due_soon (past the 催办 warning), overdue, paused; null when done",
    )
    warn_at: datetime | None = Field(
        default=None, description="When the 催办 warning of the resolution limit falls due"
    )


class PublicStep(BaseModel):
    """One step of a ticket as anyone with its number may see it (no reasons, no notes)."""

    kind: str
    actor: str
    occurred_at: datetime


class PublicTicket(TicketOut):
    """A ticket as its status link's holder sees it: no contact data, no internal notes."""

    full: bool = Field(default=True, description="true: the status link's secret was given")
    timeline: list[PublicStep]


class TicketGlimpse(BaseModel):
    """A ticket as anyone with its number alone sees it: the state and the handling unit."""

    ticket_no: str
    state: str
    state_label: str = Field(description="State in Chinese, for people")
    department_code: str
    department_name: str
    full: bool = Field(
        default=False, description="false: without the status link's secret only this shows"
    )


class CallerLookupIn(_In):
    """A hotline agent verifying a caller: the ticket number and their phone's last 4 digits."""

    ticket_no: str = Field(pattern=r"^[0-9]{6,20}$", description="工单号")
    phone_last4: str = Field(pattern=r"^[0-9]{4}$", description="来电号码后四位")


class AttachmentOut(BaseModel):
    """A photo, voice note or file the citizen sent."""

    kind: str = Field(description="image, voice, video or file")
    url: str | None = None
    media_id: str | None = Field(default=None, description="The channel's media id (WeChat)")


class LocationOut(BaseModel):
    """Where the problem is, as precisely as the channel told us."""

    address: str | None
    district: str | None
    lat: float | None
    lng: float | None


class TicketDetail(TicketOut):
    """A ticket with the citizen's (masked) words and its timeline."""

    text: str
    address: str | None
    location: LocationOut | None
    attachments: list[AttachmentOut]
    phone_masked: str | None = Field(description="The callback number, masked (138****5678)")
    channel: str
    policy: str
    reopen_count: int
    reply: str | None
    repeat_of: str | None = Field(
        default=None, description="重复来电: the number of the ticket this one is linked to"
    )
    split_from: str | None = Field(
        default=None, description="拆分: the number of the ticket this one was split from"
    )
    split_into: list[str] = Field(
        default=[], description="拆分: the numbers of the tickets this one was split into"
    )
    return_pending: "ReturnPendingOut | None" = Field(
        default=None, description="A return (退单) waiting for the centre's review, if any"
    )
    co_handlers: list["CoHandlerOut"] = Field(
        default=[], description="主办/协办: the co-handling units (协办单位) and their parts"
    )
    timeline: list[TimelineEntry]


class CoHandlerOut(BaseModel):
    """A co-handling unit of a ticket and where its part stands."""

    department_code: str
    department_name: str
    state: str = Field(description="assigned (待签收), accepted (办理中) or submitted (已提交)")
    assigned_at: datetime
    accepted_at: datetime | None
    submitted_at: datetime | None
    part: str | None = Field(description="Its part (协办意见) for the lead unit, once sent")


class ReturnPendingOut(BaseModel):
    """A unit's return waiting for the centre."""

    reason_code: str
    reason_label: str
    reason: str | None
    requested_by: str | None
    requested_at: datetime | None


def ticket_out(
    ticket: Ticket, now: datetime | None = None, clock: Clock | None = None
) -> TicketOut:
    """A queue entry for a ticket (`clock`: its running resolution clock, if any)."""
    now = now or datetime.now(UTC)
    return TicketOut(
        ticket_no=ticket.ticket_no,
        state=ticket.state,
        state_label=STATE_LABELS[TicketState(ticket.state)],
        priority=ticket.priority,
        category=ticket.category,
        department_code=ticket.department_code,
        department_name=ticket.department_name,
        title=ticket.title,
        received_at=ticket.received_at,
        due_at=ticket.due_at,
        overdue=ticket.state in service.OPEN_STATES and ticket.due_at <= now,
        sla_state=clocks.sla_state(ticket=ticket, clock=clock, now=now),
        warn_at=clock.warn_at if clock is not None and clock.paused_at is None else None,
    )


def _clock_of(session: Session, ticket: Ticket) -> Clock | None:
    return clocks.list_resolution_clocks(session=session, ticket_ids=[ticket.id]).get(ticket.id)


def _location(ticket: Ticket) -> LocationOut | None:
    if not (ticket.address or ticket.district or ticket.latitude is not None):
        return None
    return LocationOut(
        address=ticket.address,
        district=ticket.district,
        lat=ticket.latitude,
        lng=ticket.longitude,
    )


def ticket_detail(session: Session, ticket: Ticket) -> TicketDetail:
    """The whole picture of a ticket for the department handling it."""
    timeline = service.get_timeline(session=session, ticket_id=ticket.id)
    return TicketDetail(
        **ticket_out(ticket, clock=_clock_of(session, ticket)).model_dump(),
        text=ticket.text,
        address=ticket.address,
        location=_location(ticket),
        attachments=[AttachmentOut(**a) for a in json.loads(ticket.attachments or "[]")],
        phone_masked=ticket.phone_masked,
        channel=ticket.channel,
        policy=ticket.policy,
        reopen_count=ticket.reopen_count,
        reply=ticket.reply,
        repeat_of=_repeat_of(session, ticket),
        split_from=ticket.split_from,
        split_into=[
            merges.child_number(ticket.ticket_no, i)
            for i in range(1, (ticket.split_parts or 0) + 1)
        ],
        return_pending=_return_pending(ticket),
        co_handlers=[
            CoHandlerOut(
                department_code=u.department_code,
                department_name=u.department_name,
                state=u.state,
                assigned_at=u.assigned_at,
                accepted_at=u.accepted_at,
                submitted_at=u.submitted_at,
                part=u.part,
            )
            for u in cohandling.list_units(session=session, ticket_id=ticket.id)
        ],
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


def _repeat_of(session: Session, ticket: Ticket) -> str | None:
    master = session.get(Ticket, ticket.repeat_of) if ticket.repeat_of else None
    return master.ticket_no if master else None


def _return_pending(ticket: Ticket) -> ReturnPendingOut | None:
    if ticket.return_code is None:
        return None
    return ReturnPendingOut(
        reason_code=ticket.return_code,
        reason_label=REASONS.get(ticket.return_code, ticket.return_code),
        reason=ticket.return_reason,
        requested_by=ticket.return_requested_by,
        requested_at=ticket.return_requested_at,
    )


#: Internal steps the public does not see.
INTERNAL_KINDS = {
    "noted",
    "extension_requested",
    "extension_rejected",
    "return_requested",
    "return_refused",
}


def ticket_glimpse(ticket: Ticket) -> TicketGlimpse:
    """What a ticket number alone shows."""
    return TicketGlimpse(
        ticket_no=ticket.ticket_no,
        state=ticket.state,
        state_label=STATE_LABELS[TicketState(ticket.state)],
        department_code=ticket.department_code,
        department_name=ticket.department_name,
    )


def public_ticket(session: Session, ticket: Ticket) -> PublicTicket:
    """What the public status API shows of a ticket."""
    timeline = service.get_timeline(session=session, ticket_id=ticket.id)
    return PublicTicket(
        **ticket_out(ticket, clock=_clock_of(session, ticket)).model_dump(),
        timeline=[
            PublicStep(kind=e.kind, actor=e.actor, occurred_at=e.occurred_at)
            for e in timeline
            if e.kind not in INTERNAL_KINDS
        ],
    )
