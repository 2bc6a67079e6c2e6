"""Payloads of a ticket's life after routing, and of dead letters (schema version 1)."""

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from feedbackloop.events.envelope import Payload
from feedbackloop.events.feedback import Priority


class TicketState(StrEnum):
    """States of the ticket lifecycle (see DESIGN.md, "Ticket lifecycle")."""

    RECEIVED = "received"
    TRIAGE = "triage"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    RESOLVED = "resolved"
    SURVEYED = "surveyed"
    REOPENED = "reopened"
    MERGED = "merged"
    CLOSED = "closed"


class TicketEventKind(StrEnum):
    """What happened to a ticket."""

    OPENED = "opened"
    ACCEPTED = "accepted"
    NOTED = "noted"
    REPLIED = "replied"
    RESOLVED = "resolved"
    RETURNED = "returned"
    REROUTED = "rerouted"
    EXTENDED = "extended"
    WARNED = "warned"
    BREACHED = "breached"
    SURVEYED = "surveyed"
    REOPENED = "reopened"
    MERGED = "merged"
    CLOSED = "closed"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_REJECTED = "extension_rejected"
    PAUSED = "paused"
    RESUMED = "resumed"
    ESCALATED = "escalated"
    SURVEY_INVITED = "survey_invited"
    NO_RESPONSE = "no_response"
    UNREASONABLE_REVIEWED = "unreasonable_reviewed"
    RETURN_REQUESTED = "return_requested"
    RETURN_REFUSED = "return_refused"
    SUPERVISED = "supervised"
    COHANDLER_ASSIGNED = "cohandler_assigned"
    COHANDLER_ACCEPTED = "cohandler_accepted"
    COHANDLER_SUBMITTED = "cohandler_submitted"
    COHANDLER_OVERDUE = "cohandler_overdue"
    COHANDLER_WITHDRAWN = "cohandler_withdrawn"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    ANSWERED_DIRECTLY = "answered_directly"


class Publication(Payload):
    """公开: what the public board and Open311 may show of an answered ticket.

    Everything here is meant for anyone to read: the words are masked (names, phone and ID
    numbers, house numbers, licence plates) before the event is written.
    """

    title: str | None = Field(default=None, max_length=100, description="Masked title.")
    text: str = Field(max_length=5000, description="The citizen's words, masked.")
    reply: str = Field(max_length=5000, description="The unit's reply, masked.")
    category: str | None = Field(default=None, description="First-level category, if known.")
    district: str | None = Field(default=None, max_length=50, description="District, if known.")
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="Latitude (WGS-84), rounded to about 100 m."
    )
    lng: float | None = Field(
        default=None, ge=-180, le=180, description="Longitude (WGS-84), rounded to about 100 m."
    )
    media_url: str | None = Field(
        default=None, max_length=1000, description="A photo the citizen sent, if it is public."
    )
    resolved_at: datetime = Field(description="When the unit answered (办结, UTC).")
    solved: str | None = Field(
        default=None, description="The callback survey's answer, 'solved', 'partly' or 'not'."
    )
    satisfaction: str | None = Field(
        default=None,
        description="The callback survey's rating, 'satisfied', 'basically' or 'dissatisfied'.",
    )


class TicketEvent(Payload):
    """One transition or fact in a ticket's life, as recorded by followup."""

    EVENT_TYPE: ClassVar[str] = "feedbackloop.ticket.event.v1"

    ticket_id: str = Field(description="Stable internal ticket id (UUID).")
    ticket_no: str = Field(description="Ticket number the citizen knows.")
    kind: TicketEventKind = Field(description="What happened.")
    state_from: TicketState | None = Field(
        default=None, description="State before the event; None when the ticket was just opened."
    )
    state_to: TicketState = Field(description="State after the event.")
    department_code: str | None = Field(
        default=None, description="Department responsible after the event."
    )
    department_name: str | None = Field(
        default=None, description="That department's name (Chinese), for messages to citizens."
    )
    priority: Priority = Field(description="Priority after the event.")
    actor: str = Field(
        description="Who caused it: 'system', 'department:<code>', 'operator:<name>' or 'citizen'."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why, in words.")
    due_at: datetime | None = Field(
        default=None, description="Resolution deadline after the event (UTC), if one runs."
    )
    received_at: datetime = Field(description="When intake accepted the item (UTC).")
    occurred_at: datetime = Field(description="When it happened (UTC).")
    channel: str | None = Field(
        default=None, description="Channel the item came through (web, wechat, hotline, ...)."
    )
    category: str | None = Field(default=None, description="First-level category, if known.")
    clock: str | None = Field(
        default=None,
        description="For warned/breached: which limit, 'response' (签收) or 'resolution' (办结).",
    )
    solved: str | None = Field(
        default=None, description="For surveyed: the citizen's answer, 'solved', 'partly' or 'not'."
    )
    satisfaction: str | None = Field(
        default=None,
        description="For surveyed: 'satisfied' (满意), 'basically' (基本满意), 'dissatisfied' "
        "(不满意); 'no_response' when nobody answered.",
    )
    contacted: bool | None = Field(
        default=None,
        description="For surveyed: whether the unit contacted the citizen (是否联系); None "
        "where the question was not asked.",
    )
    unreasonable: str | None = Field(
        default=None,
        description="不合理诉求: on resolved, 'claimed' when the unit marks the request "
        "unreasonable; on unreasonable_reviewed, the centre's decision, 'accepted' (the ticket "
        "leaves the unit's 解决率 and 满意率) or 'refused'.",
    )
    return_code: str | None = Field(
        default=None,
        description="退单 (return): on return_requested, returned and return_refused, the "
        "unit's reason code from the taxonomy of returns (e.g. 'not_our_duty').",
    )
    step: str | None = Field(
        default=None,
        description="督办 ladder: on supervised, the step of the centre's ladder (sla.yaml) "
        "that the ticket reached, e.g. 'remind' (提醒), 'urge' (催办) or 'reprimand' (通报).",
    )
    co_department_code: str | None = Field(
        default=None,
        description="主办/协办: on the cohandler_* kinds, the co-handling unit (协办单位) the "
        "event is about; department_code stays the lead unit (主办单位).",
    )
    co_department_name: str | None = Field(
        default=None, description="That co-handling unit's name (Chinese)."
    )
    publication: Publication | None = Field(
        default=None,
        description="公开: on published, what the public board and Open311 show (masked); "
        "unpublished takes the ticket off them (withheld by the centre, or consent withdrawn).",
    )
    article_id: int | None = Field(
        default=None,
        description="直接答复: on answered_directly, the knowledge-base article the "
        "consultation was answered with.",
    )


class DeadLetter(Payload):
    """A message a consumer could not process, parked with the reason instead of crashing."""

    EVENT_TYPE: ClassVar[str] = "feedbackloop.dead_letter.v1"

    consumer: str = Field(description="The service that gave up, e.g. 'router'.")
    topic: str = Field(description="Topic the message was read from.")
    partition: int = Field(description="Partition it was read from.")
    offset: int = Field(description="Its offset there.")
    key: str | None = Field(default=None, description="Its key, decoded as UTF-8 (lossy).")
    value: str = Field(description="Its value, decoded as UTF-8 with invalid bytes replaced.")
    error: str = Field(description="Why it could not be processed.")
    failed_at: datetime = Field(description="When the consumer gave up (UTC).")
