"""Hotline calls as the call centre's speech recognition delivers them, and their narrative."""

import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from feedbackloop.events import Priority, RequestType
from services.intake.schemas import clean_text, normalise_phone

BEIJING = ZoneInfo("Asia/Shanghai")
MAX_TEXT = 5000
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")


class Turn(BaseModel):
    """One stretch of speech in a call."""

    model_config = ConfigDict(extra="ignore")

    speaker: Literal["caller", "agent"] = Field(description="Who spoke: caller or agent")
    text: str = Field(max_length=MAX_TEXT, description="What the recogniser heard")
    start_ms: int = Field(ge=0, le=24 * 3600 * 1000, description="Start, ms from call start")
    end_ms: int = Field(ge=0, le=24 * 3600 * 1000, description="End, ms from call start")

    @field_validator("text", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ordered(self) -> "Turn":
        if self.end_ms < self.start_ms:
            raise ValueError("这段话的结束时间早于开始时间")
        return self


class HotlineCall(BaseModel):
    """One call to the hotline, with the agent's optional summary and hints."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    # At most 100 characters: the reference kept downstream is `<credential id>/<call_id>`,
    # which must fit the event's 128.
    call_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="通话编号, unique per call-centre system",
    )
    caller_number: str | None = Field(
        default=None, max_length=32, description="来电号码; withheld or unparseable is kept empty"
    )
    started_at: datetime = Field(description="通话开始时间 (ISO 8601; Beijing time if no offset)")
    ended_at: datetime = Field(description="通话结束时间")
    agent_id: str = Field(min_length=1, max_length=64, description="话务员工号")
    turns: list[Turn] = Field(max_length=2000, description="通话内容, in order")
    agent_summary: str | None = Field(default=None, max_length=2000, description="话务员小结")
    category_hint: str | None = Field(default=None, max_length=50, description="分类建议")
    urgency_hint: Priority | None = Field(default=None, description="紧急程度建议")
    publication_consent: bool = Field(
        default=False,
        description="同意公开: the agent asked and the caller agreed that the item and its reply "
        "may be shown on the public board with personal data hidden (off unless set)",
    )
    request_type: RequestType | None = Field(
        default=None,
        description="诉求类型 the agent chose: consultation (咨询), help (求助), complaint "
        "(投诉), report (举报) or suggestion (建议); without it intake infers one",
    )

    @field_validator("started_at", "ended_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # Call-centre systems in China often send local time without an offset.
        return value.replace(tzinfo=BEIJING) if value.tzinfo is None else value

    @field_validator("caller_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        # A withheld or foreign number must not cost the citizen their complaint.
        try:
            return normalise_phone(value) if value else None
        except ValueError:
            return None

    @field_validator("agent_summary")
    @classmethod
    def _clean_summary(cls, value: str | None) -> str | None:
        return clean_text(value) or None if value else None

    @model_validator(mode="after")
    def _consistent(self) -> "HotlineCall":
        if self.ended_at < self.started_at:
            raise ValueError("通话结束时间早于开始时间")
        if not self.agent_summary and not any(t.speaker == "caller" and t.text for t in self.turns):
            raise ValueError("通话里没有来电人的话，也没有话务员小结，无法形成诉求")
        return self


def narrative(call: HotlineCall) -> str:
    """The citizen's account: the agent's summary first, then the caller's words in order."""
    parts = [f"【话务员小结】{call.agent_summary}"] if call.agent_summary else []
    spoken = [turn.text for turn in call.turns if turn.speaker == "caller" and turn.text]
    if spoken:
        parts.append("【来电人陈述】" + "\n".join(spoken))
    return "\n".join(parts)[:MAX_TEXT]


def title(call: HotlineCall) -> str:
    """A short title: the summary's first sentence, else the caller's first words."""
    source = call.agent_summary or next(
        turn.text for turn in call.turns if turn.speaker == "caller" and turn.text
    )
    return _SENTENCE_END.split(source, maxsplit=1)[0].strip()[:100] or source[:100]
