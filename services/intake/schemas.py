"""Request and response bodies of intake's JSON API."""

import re
import unicodedata
from datetime import datetime

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from feedbackloop.events import Location


class LocationIn(BaseModel):
    """Where the problem is, as a structured location."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    address: str | None = Field(default=None, max_length=200, description="地址")
    district: str | None = Field(default=None, max_length=50, description="区/县")
    lat: float | None = Field(default=None, ge=-90, le=90, description="纬度")
    lng: float | None = Field(default=None, ge=-180, le=180, description="经度")

    @field_validator("address", "district")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        return refuse_control_characters(value)


class FeedbackIn(BaseModel):
    """A complaint or request posted to the web API (channel `web`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=5, max_length=5000, description="诉求内容 (what happened)")
    title: str | None = Field(default=None, max_length=100, description="标题")
    contact_phone: str | None = Field(
        default=None, max_length=32, description="联系电话, mainland mobile or landline"
    )
    callback_consent: bool = Field(default=False, description="同意回访 (may be called back)")
    publication_consent: bool = Field(
        default=False,
        description="同意公开: once answered, the item and its reply may be shown on the public "
        "board with names, numbers and addresses hidden (off unless set; withdrawable)",
    )
    location: str | LocationIn | None = Field(
        default=None, description="地点: an address, or a structured location"
    )

    @field_validator("text", "title", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value

    @field_validator("location")
    @classmethod
    def _no_controls(cls, value: object) -> object:
        return refuse_control_characters(value) if isinstance(value, str) else value

    @field_validator("contact_phone")
    @classmethod
    def _normalise_phone(cls, value: str | None) -> str | None:
        if not value:
            return None
        return normalise_phone(value)

    def location_model(self) -> Location | None:
        """The location in the event contract's shape."""
        if self.location is None:
            return None
        if isinstance(self.location, str):
            return Location(address=self.location) if self.location else None
        return Location(**self.location.model_dump())


class FeedbackAccepted(BaseModel):
    """What the citizen gets back at once."""

    ticket_no: str = Field(description="工单号: digits only, the last one a check digit")
    ticket_id: str = Field(description="Internal id of the ticket")
    received_at: datetime
    message: str = Field(description="A sentence to show or read to the citizen")
    status_url: str = Field(description="Where the citizen can check the ticket's progress")


_BLANKS = re.compile(r"[ \t\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
#: Blanks `isprintable` counts as unprintable, although they are no control characters.
_COMMON_BLANKS = re.compile(r"[\n\t\u3000\xa0]+")


def clean_text(value: str) -> str:
    """Drop control and invisible characters, unify line breaks, squeeze runs of blanks."""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    kept = value
    # Printable text (blanks aside) holds none of those characters; other text has each
    # distinct character looked at once, not each occurrence.
    if not _COMMON_BLANKS.sub("", value).isprintable():
        unwanted = {
            ord(ch)
            for ch in set(value)
            if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs")
        }
        kept = value.translate(dict.fromkeys(unwanted))
    lines = [_BLANKS.sub(" ", line).strip() for line in kept.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def refuse_control_characters(value: str | None) -> str | None:
    """An address as given, or ValueError in Chinese if it holds control characters.

    Addresses are kept as written (no cleaning, unlike the text), so a NUL would reach
    every store downstream, and PostgreSQL cannot hold one.
    """
    if value and any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("地址中有无法识别的控制字符（例如空字符），请删除后重新提交")
    return value


def normalise_phone(value: str) -> str:
    """Return a mainland phone number in E.164 form, or raise ValueError in Chinese."""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValueError("请填写有效的手机号码或固定电话号码，例如 13800138000 或 010-12345678")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Hide the middle of a phone number: +8613812345678 -> 138****5678."""
    national = e164.removeprefix("+86")
    if len(national) <= 7:
        return national[:2] + "*" * (len(national) - 4) + national[-2:]
    return national[:3] + "*" * (len(national) - 7) + national[-4:]
