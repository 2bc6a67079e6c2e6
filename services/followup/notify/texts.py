"""What citizens are told, in Simplified Chinese: one short, polite message per purpose."""

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

#: A department's reply is cut to this many characters; SMS bills by length, and the link
#: (when there is one) shows the whole text.
REPLY_LIMIT = 300
_DEFAULT_DEPARTMENT = "承办单位"
_GENERIC_TITLE = "诉求办理进度更新"


class Purpose(StrEnum):
    """Why the citizen is told something."""

    ACCEPTED = "accepted"
    REPLIED = "replied"
    RESOLVED = "resolved"
    SURVEY = "survey"
    REOPENED = "reopened"
    EXTENDED = "extended"
    MERGED = "merged"


#: Titles for template messages, whose `thing` fields take at most 20 characters.
TITLES: dict[Purpose, str] = {
    Purpose.ACCEPTED: "诉求已签收办理",
    Purpose.REPLIED: "承办单位已答复",
    Purpose.RESOLVED: "诉求已办结",
    Purpose.SURVEY: "邀请您评价办理结果",
    Purpose.REOPENED: "诉求已重新办理",
    Purpose.EXTENDED: "办理时限已延长",
    Purpose.MERGED: "诉求已并入原工单办理",
}


def render(
    purpose: Purpose | str,
    *,
    ticket_no: str,
    department: str | None = None,
    reply: str | None = None,
    link: str | None = None,
    due_at: datetime | None = None,
    master_no: str | None = None,
) -> str:
    """The message text for a purpose; raises ValueError for an unknown purpose."""
    kind = Purpose(purpose)
    head = f"您反映的问题（工单号{ticket_no}）"
    dept = department or _DEFAULT_DEPARTMENT
    answer = _shorten(reply)
    if kind is Purpose.ACCEPTED:
        text = f"{head}已由{dept}签收办理。"
    elif kind is Purpose.REPLIED:
        text = f"{head}{dept}已答复：{answer}" if answer else f"{head}{dept}已答复。"
    elif kind is Purpose.RESOLVED:
        text = f"{head}已由{dept}办结。" + (f"办理结果：{answer}" if answer else "")
    elif kind is Purpose.SURVEY:
        # A hotline agent reads the survey text aloud, so it asks instead of linking.
        invite = f"请对本次办理进行评价：{link}" if link else "请问您对本次办理结果是否满意？"
        text = f"{head}已办结，{invite}"
    elif kind is Purpose.MERGED:
        # A repeat: the citizen follows the ticket that carries their request.
        text = (
            f"{head}与您此前反映的工单{master_no}为同一问题，已并入该工单一并办理，"
            f"请以工单{master_no}查询进展。"
        )
    elif kind is Purpose.REOPENED:
        text = f"{head}已重新交由{dept}办理，我们会继续跟进。"
    else:
        until = f"延长至{_day(due_at)}" if due_at else "已延长"
        text = f"{head}办理时限{until}，{dept}正在抓紧办理，感谢您的耐心。"
    if link and kind is not Purpose.SURVEY:
        text += f"详情：{link}"
    return text


def template_data(*, ticket_no: str, purpose: Purpose | str) -> dict[str, str]:
    """Fields of the template message sent when the customer-service window is closed."""
    # The template chosen in the official account's backend must have exactly these keys;
    # another template needs Notifier(template_fields=...).
    try:
        title = TITLES[Purpose(purpose)]
    except ValueError:
        title = _GENERIC_TITLE
    return {"character_string1": ticket_no, "thing2": title}


def _shorten(reply: str | None) -> str | None:
    if not reply or not reply.strip():
        return None
    reply = reply.strip()
    return reply if len(reply) <= REPLY_LIMIT else reply[: REPLY_LIMIT - 1] + "…"


def _day(moment: datetime) -> str:
    local = moment.astimezone(BEIJING)
    return f"{local.month}月{local.day}日"
