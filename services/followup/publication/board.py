"""The public board's query parameters and its feeds (JSON, RSS 2.0).

Every parameter is read by hand from the query string with a bound and a Chinese message,
so hostile input gets a 400 that says what to fix, never a 5xx or a framework's English.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from services.followup.calendar import BEIJING
from services.followup.publication.models import PublicItem
from services.followup.publication.service import BoardQuery
from services.followup.surveys import SATISFACTION_LABELS, SOLVED_LABELS, Satisfaction, Solved

#: 时间范围: days back from now.
PERIODS = {"7": "近 7 天", "30": "近 30 天", "90": "近 3 个月", "365": "近 1 年"}
PAGE_SIZE = 20
MAX_PAGE = 500
MAX_PER_PAGE = 50
RSS_ITEMS = 50
_LIMITS = {"q": 50, "category": 50, "unit": 48, "district": 50}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNIT = re.compile(r"[A-Za-z0-9_.-]{1,48}")
_FIELD_NAMES = {"q": "搜索词", "category": "类别", "unit": "承办单位", "district": "区县"}


class BadQuery(Exception):
    """A query parameter the board cannot take; the message is for the citizen."""


@dataclass(frozen=True)
class Paged:
    """A validated board request: filters, page and page size."""

    query: BoardQuery
    page: int
    per_page: int
    period: str
    values: dict[str, str]


def _number(raw: str, name: str, low: int, high: int) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise BadQuery(f"{name}应当是 {low} 到 {high} 之间的整数")
    value = int(raw)
    if not low <= value <= high:
        raise BadQuery(f"{name}应当是 {low} 到 {high} 之间的整数")
    return value


def parse(params: Mapping[str, str], *, now: datetime, per_page: bool = False) -> Paged:
    """The board request in `params`; BadQuery with what to fix."""
    values: dict[str, str] = {}
    for name, limit in _LIMITS.items():
        value = params.get(name, "").strip()
        if len(value) > limit:
            raise BadQuery(f"{_FIELD_NAMES[name]}不能超过 {limit} 个字")
        if _CONTROL.search(value):
            raise BadQuery(f"{_FIELD_NAMES[name]}含有不能识别的字符")
        values[name] = value
    if values["unit"] and not _UNIT.fullmatch(values["unit"]):
        raise BadQuery("承办单位不正确，请从列表中选择")
    period = params.get("period", "").strip()
    if period and period not in PERIODS:
        raise BadQuery("时间范围不正确，请从列表中选择")
    page = _number(params.get("page", "1").strip() or "1", "页码", 1, MAX_PAGE)
    size = PAGE_SIZE
    if per_page:
        raw = params.get("per_page", str(PAGE_SIZE)).strip() or str(PAGE_SIZE)
        size = _number(raw, "每页条数", 1, MAX_PER_PAGE)
    query = BoardQuery(
        q=values["q"] or None,
        category=values["category"] or None,
        department=values["unit"] or None,
        district=values["district"] or None,
        since=now - timedelta(days=int(period)) if period else None,
    )
    return Paged(query=query, page=page, per_page=size, period=period, values=values)


def survey_words(item: PublicItem) -> str | None:
    """The survey's result in words (已解决 · 满意), or None before it is answered."""
    parts = []
    if item.solved in {s.value for s in Solved}:
        parts.append(SOLVED_LABELS[Solved(item.solved)])
    if item.satisfaction in {s.value for s in Satisfaction}:
        parts.append(SATISFACTION_LABELS[Satisfaction(item.satisfaction)])
    return " · ".join(parts) or None


def item_url(base_url: str, item: PublicItem) -> str:
    """The item's page on the board."""
    return f"{base_url.rstrip('/')}/board/{item.ticket_no}"


def as_json(item: PublicItem, base_url: str) -> dict[str, Any]:
    """One item for /board.json: the masked record, nothing else of the ticket."""
    return {
        "ticket_no": item.ticket_no,
        "url": item_url(base_url, item),
        "title": item.title,
        "text": item.text,
        "reply": item.reply,
        "category": item.category,
        "district": item.district,
        "department_code": item.department_code,
        "department_name": item.department_name,
        "lat": item.lat,
        "lng": item.lng,
        "received_at": item.received_at.astimezone(UTC).isoformat(),
        "resolved_at": item.resolved_at.astimezone(UTC).isoformat(),
        "solved": item.solved,
        "satisfaction": item.satisfaction,
        "survey": survey_words(item),
    }


def headline(item: PublicItem) -> str:
    """A title for lists and feeds: the masked title, else the text's beginning."""
    if item.title:
        return item.title
    return item.text[:30] + ("…" if len(item.text) > 30 else "")


def as_rss(items: list[PublicItem], base_url: str, *, now: datetime) -> str:
    """RSS 2.0 of the latest items (every text escaped; nothing but the masked record)."""
    base = base_url.rstrip("/")
    entries = []
    for item in items:
        survey = survey_words(item)
        body = f"诉求：{item.text}\n答复（{item.department_name}）：{item.reply}"
        if survey:
            body += f"\n回访：{survey}"
        category = f"<category>{escape(item.category)}</category>" if item.category else ""
        entries.append(
            "<item>"
            f"<title>{escape(headline(item))}</title>"
            f"<link>{escape(item_url(base, item))}</link>"
            f'<guid isPermaLink="false">12345-{escape(item.ticket_no)}</guid>'
            f"<pubDate>{format_datetime(item.resolved_at.astimezone(UTC), usegmt=True)}</pubDate>"
            f"{category}"
            f"<description>{escape(body)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0"><channel>'
        "<title>12345 公开栏</title>"
        f"<link>{escape(base)}/board</link>"
        "<description>已办结并经市民同意公开的诉求与答复（已隐去个人信息）</description>"
        "<language>zh-cn</language>"
        f"<lastBuildDate>{format_datetime(now.astimezone(UTC), usegmt=True)}</lastBuildDate>"
        + "".join(entries)
        + "</channel></rss>"
    )


def local(moment: datetime) -> str:
    """Beijing wall time to the minute."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
