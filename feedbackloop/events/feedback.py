"""Payloads of the intake and routing steps (schema version 1)."""

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from feedbackloop.events.envelope import Payload


class Channel(StrEnum):
    """Where the citizen spoke to us."""

    WEB = "web"
    WECHAT = "wechat"
    HOTLINE = "hotline"
    OPEN311 = "open311"


class Priority(StrEnum):
    """How fast an item must be handled; `urgent` runs on wall-clock time."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"


class RoutingMethod(StrEnum):
    """How a department was chosen."""

    RULE = "rule"
    MODEL = "model"
    MANUAL = "manual"
    DEFAULT = "default"
    TRIAGE = "triage"


class RequestType(StrEnum):
    """What kind of request (诉求类型) an item is; 12345 centres count and handle them apart."""

    CONSULTATION = "consultation"  # 咨询: a question, often answered at once (直接答复)
    HELP = "help"  # 求助: the citizen needs something done
    COMPLAINT = "complaint"  # 投诉: about a unit's or a business's conduct
    REPORT = "report"  # 举报: reporting a violation
    SUGGESTION = "suggestion"  # 建议: an idea for the city


class Location(Payload):
    """Where the problem is, as precisely as the channel told us."""

    address: str | None = Field(default=None, max_length=200, description="Free-text address.")
    district: str | None = Field(
        default=None, max_length=50, description="District (区/县) name, if known."
    )
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS-84).")
    lng: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS-84).")


class Attachment(Payload):
    """A photo, voice note or file the citizen sent."""

    kind: str = Field(max_length=20, description="'image', 'voice', 'video' or 'file'.")
    url: str | None = Field(default=None, max_length=1000, description="Where to fetch it.")
    media_id: str | None = Field(
        default=None, max_length=200, description="Channel media id (e.g. WeChat MediaId)."
    )


class Contact(Payload):
    """How to reach the citizen, as far as downstream services may see it."""

    phone_masked: str | None = Field(
        default=None,
        max_length=32,
        description="Phone number with the middle digits hidden, e.g. '138****5678'.",
    )
    callback_consent: bool = Field(
        default=False, description="The citizen agreed to be called or messaged back."
    )
    publication_consent: bool = Field(
        default=False,
        description="公开: the citizen agreed that the request, with personal data masked, and "
        "the unit's reply may be published on the public board and Open311 once answered; "
        "off unless asked for, and withdrawable (followup's `unpublished` event).",
    )
    wechat_openid: str | None = Field(
        default=None, max_length=64, description="WeChat openid for replies on WeChat."
    )
    phone_sealed: str | None = Field(
        default=None,
        max_length=400,
        description="The phone number encrypted (Fernet) with the contact key that only the "
        "services calling or texting citizens back hold; set only with callback consent.",
    )
    caller_key: str | None = Field(
        default=None,
        max_length=64,
        description="Who called, as a keyed hash (HMAC-SHA256 under the contact key) of the "
        "WeChat openid or else the phone number: equal for one caller, revealing neither; "
        "followup links a repeat caller's item (重复来电) by it.",
    )


class DirectAnswer(Payload):
    """直接答复: the knowledge-base article a consultation was answered with on the spot."""

    article_id: int = Field(ge=1, description="Id of the knowledge-base article used.")
    article_title: str = Field(max_length=100, description="The article's title when used.")
    department_code: str = Field(
        max_length=48, description="Department that owns the article; the ticket is its."
    )
    answer: str = Field(
        min_length=1, max_length=5000, description="The answer given to the citizen, as given."
    )
    answered_by: str = Field(
        max_length=80,
        description="Who answered: 'agent:<name>' (a 12345 agent) or 'wechat:knowledge' (the "
        "WeChat channel's automatic answer).",
    )
    score: float | None = Field(
        default=None, ge=0, le=1, description="The article's search similarity, 0-1, if known."
    )


class FeedbackReceived(Payload):
    """A citizen's item, normalised from any channel and accepted by intake."""

    EVENT_TYPE: ClassVar[str] = "feedbackloop.feedback.received.v1"

    ticket_id: str = Field(description="Stable internal id (UUID); the Kafka key everywhere.")
    ticket_no: str = Field(
        description="Ticket number told to the citizen: digits only, last one a check digit."
    )
    channel: Channel = Field(description="The channel the item came through.")
    channel_ref: str | None = Field(
        default=None,
        max_length=128,
        description="The channel's own id for the item (WeChat MsgId, hotline call_id, ...).",
    )
    received_at: datetime = Field(description="When intake accepted the item (UTC).")
    title: str | None = Field(default=None, max_length=100, description="Citizen's title.")
    text: str = Field(
        min_length=1,
        max_length=5000,
        description="The citizen's words, cleaned, with personal numbers masked.",
    )
    location: Location | None = Field(default=None, description="Where the problem is.")
    attachments: list[Attachment] = Field(
        default_factory=list, description="Photos, voice notes and files."
    )
    contact: Contact | None = Field(default=None, description="Masked contact details.")
    priority_hint: Priority | None = Field(
        default=None, description="Priority suggested by the channel (e.g. a hotline agent)."
    )
    category_hint: str | None = Field(
        default=None, max_length=50, description="Category suggested by the channel."
    )
    split_from: str | None = Field(
        default=None,
        max_length=20,
        description="拆分 (split): the number of the ticket the centre split this item from; "
        "set only on the children followup publishes, whose own numbers carry node digit 9.",
    )
    request_type: RequestType | None = Field(
        default=None,
        description="诉求类型: set by a hotline agent, else inferred by intake from the words "
        "(None: no cue either way).",
    )
    direct_answer: DirectAnswer | None = Field(
        default=None,
        description="直接答复: the consultation was answered at intake with a knowledge-base "
        "article; followup closes the ticket at once in the article's department.",
    )


class Candidate(Payload):
    """A department the model considered, with its probability."""

    department_code: str = Field(description="Department code.")
    department_name: str = Field(description="Department name (Chinese).")
    category: str = Field(description="First-level category that leads to this department.")
    probability: float = Field(ge=0, le=1, description="Model probability of that category.")


class CoUnit(Payload):
    """A co-handling unit (协办单位) of a ticket."""

    department_code: str = Field(description="Department code.")
    department_name: str = Field(description="Department name (Chinese).")


class FeedbackRouted(Payload):
    """The router's decision: which department handles an item, and how sure it is."""

    EVENT_TYPE: ClassVar[str] = "feedbackloop.feedback.routed.v1"

    feedback: FeedbackReceived = Field(description="The item as intake accepted it.")
    department_code: str = Field(description="Code of the department that must handle it.")
    department_name: str = Field(description="The department's name (Chinese).")
    method: RoutingMethod = Field(description="How the department was chosen.")
    confidence: float = Field(ge=0, le=1, description="Router's confidence in the choice, 0-1.")
    category: str | None = Field(default=None, description="First-level category, if known.")
    priority: Priority = Field(description="Priority the router settled on.")
    rule: str | None = Field(default=None, description="Name of the rule that matched, if any.")
    candidates: list[Candidate] = Field(
        default_factory=list,
        description="The model's top departments with probabilities (for triage and audits).",
    )
    routed_at: datetime = Field(description="When the decision was made (UTC).")
    assigned_by: str | None = Field(
        default=None, max_length=80, description="Operator who assigned it by hand (`manual`)."
    )
    duplicate_of: str | None = Field(
        default=None,
        description="Ticket number of a recent item with nearly the same text, if any.",
    )
    co_handlers: list[CoUnit] = Field(
        default_factory=list,
        max_length=5,
        description="主办/协办: co-handling units (协办单位) the operator chose next to the "
        "lead unit (department_code, the 主办单位); empty for a single unit.",
    )


class HotspotDetected(Payload):
    """A burst of similar items about one place: an early warning for operators."""

    EVENT_TYPE: ClassVar[str] = "feedbackloop.feedback.hotspot.v1"

    place: str = Field(description="The place the items name (compound, road, village, ...).")
    category: str = Field(description="Their first-level category.")
    ticket_nos: list[str] = Field(description="Ticket numbers of the items in the burst.")
    window_hours: float = Field(description="The window the items arrived in, in hours.")
    first_at: datetime = Field(description="When the first item of the burst arrived (UTC).")
    last_at: datetime = Field(description="When the item that completed the burst arrived.")
