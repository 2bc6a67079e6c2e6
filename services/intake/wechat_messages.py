"""What a WeChat message asks for: a new item, a progress query, a welcome, or nothing."""

import math
import re
import unicodedata
from dataclasses import dataclass

from pydantic import ValidationError

from feedbackloop.events import Attachment, Channel, Location
from services.intake.request_types import infer_request_type
from services.intake.schemas import clean_text
from services.intake.service import NewFeedback
from services.intake.wechat_xml import MalformedMessage

WELCOME = (
    "感谢关注12345市民服务热线！\n"
    "【反映问题】直接发送文字、语音、图片或位置，写清问题发生的地点和具体情况，"
    "我们会马上回复您工单号。\n"
    "【查询进度】回复“查询 工单号”，例如“查询 2611221000014”。\n"
    "【同意公开】在内容前加“公开：”，办结后隐去个人信息在公开栏展示诉求和答复；默认不公开。\n"
    "遇到紧急情况请直接拨打 110、119 或 120。"
)
HOW_TO_REPORT = (
    "请用文字、语音、图片或位置告诉我们遇到的问题，写清地点和具体情况，我们会马上回复您工单号。"
    "回复“查询 工单号”可查看办理进度。"
)
HOW_TO_QUERY = (
    "请回复“查询 工单号”查看办理进度，例如“查询 2611221000014”。工单号是受理时回复给您的一串数字。"
)
UNSUPPORTED = (
    "暂不支持这种消息。请发送文字、语音、图片或位置来反映问题；回复“查询 工单号”可查看办理进度。"
)
VOICE_PENDING = "[语音留言，待转写]"

#: Room below the contract's 5000 characters for masking, which can lengthen card numbers.
MAX_TEXT_CHARS = 4000

# openids and original account ids are plain identifiers; checking them also keeps them
# safe inside the CDATA sections of the reply.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MSG_ID = re.compile(r"[0-9]{1,32}")
_CREATE_TIME = re.compile(r"[0-9]{1,12}")
#: What a citizen replies to have a directly answered consultation filed for a department.
FILE_KEYWORD = "人工"
_FILE_ANSWERED = re.compile(r"(?:转)?人工(?:办理|服务|处理)?[\s。.!！]*")
NOTHING_TO_FILE = (
    "没有找到需要转人工办理的咨询（只能转 24 小时内自动答复的咨询）。"
    "请直接发送您遇到的问题，我们会马上回复您工单号。"
)
#: WeChat refuses a passive text reply past 2048 bytes; room is kept for the envelope.
MAX_REPLY_BYTES = 2000
# Matched after NFKC, which turns full-width digits, colons and spaces into ASCII ones.
#: 公开: a message that starts with the keyword files its item with publication consent.
PUBLISH_KEYWORD = "公开"
_PUBLISH = re.compile(r"(?:同意)?公开\s*[:：,，\s]\s*(.+)", re.DOTALL)
PUBLISH_NOTE = "您已同意公开：办结后将隐去个人信息在公开栏展示，可在工单进度页撤回。"
_QUERY = re.compile(r"(?:查询|进度|查进度)(?:工单号?|进度)?\s*:?\s*([0-9]*)[\s。.!！?？]*")


@dataclass(frozen=True)
class Inbound:
    """The envelope of a message or event from WeChat, with its raw fields."""

    account: str
    openid: str
    create_time: int
    msg_type: str
    msg_id: str | None
    fields: dict[str, str]

    @property
    def channel_ref(self) -> str:
        """What identifies this message across WeChat's retries."""
        return self.msg_id or f"{self.openid}:{self.create_time}"


@dataclass(frozen=True)
class Submit:
    """Accept an item; `note` is added to the acknowledgement."""

    item: NewFeedback
    note: str = ""


@dataclass(frozen=True)
class AskProgress:
    """Answer with the state of one of the citizen's tickets."""

    ticket_no: str


@dataclass(frozen=True)
class Say:
    """Reply with a fixed text, create nothing."""

    text: str


@dataclass(frozen=True)
class FileAnswered:
    """File the citizen's latest directly answered consultation for a department (“人工”)."""


@dataclass(frozen=True)
class Acknowledge:
    """Answer "success": WeChat then shows nothing and does not retry."""


Action = Submit | AskProgress | Say | FileAnswered | Acknowledge


def read_inbound(fields: dict[str, str]) -> Inbound:
    """Check the fields every message has; MalformedMessage if one is missing or wrong."""
    account = _name(fields, "ToUserName")
    openid = _name(fields, "FromUserName")
    create_time = _required(fields, "CreateTime")
    if not _CREATE_TIME.fullmatch(create_time):
        raise MalformedMessage("CreateTime 应当是整数秒")
    msg_type = _required(fields, "MsgType").lower()
    msg_id = fields.get("MsgId", "").strip() or None
    if msg_id is not None and not _MSG_ID.fullmatch(msg_id):
        raise MalformedMessage("MsgId 应当是数字")
    return Inbound(account, openid, int(create_time), msg_type, msg_id, fields)


def interpret(message: Inbound) -> Action:
    """Decide what a message asks for; MalformedMessage if its fields do not fit its type."""
    kind = message.msg_type
    try:
        if kind == "text":
            return _text(message)
        if kind == "voice":
            return _voice(message)
        if kind == "image":
            return _image(message)
        if kind in ("video", "shortvideo"):
            media_id = _media_id(message.fields, required=True)
            return _submit(message, "[视频留言]", [Attachment(kind="video", media_id=media_id)])
        if kind == "location":
            return _location(message)
        if kind == "event":
            event = _required(message.fields, "Event").lower()
            return Say(WELCOME) if event == "subscribe" else Acknowledge()
    except ValidationError as exc:
        raise MalformedMessage("消息字段的取值不正确") from exc
    return Say(UNSUPPORTED)


def as_query(text: str) -> AskProgress | Say | None:
    """A progress query (`查询 <工单号>`, `进度 <工单号>`), help for a bare `查询`, or None."""
    match = _QUERY.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    return AskProgress(match.group(1)) if match.group(1) else Say(HOW_TO_QUERY)


def accepted_reply(ticket_no: str, note: str = "") -> str:
    """The acknowledgement with the ticket number and how to ask for progress."""
    return f"您的诉求已受理，工单号 {ticket_no}。{note}\n回复“查询 {ticket_no}”查看办理进度。"


def direct_reply(*, ticket_no: str, title: str, answer: str, status_url: str) -> str:
    """直接答复 on WeChat: the article's answer, and how to have it handled after all."""
    head = f"您的咨询已受理（工单号 {ticket_no}），答复如下：\n【{title}】\n"
    tail = f"\n\n如果没有解决您的问题，请回复“{FILE_KEYWORD}”，我们将转交相关部门办理。"
    more = f"\n（完整答复：{status_url}）"
    room = MAX_REPLY_BYTES - len((head + tail).encode())
    if len(answer.encode()) > room:
        room -= len(more.encode()) + len("…".encode())
        cut = answer.encode()[: max(room, 0)].decode(errors="ignore")
        answer = cut + "…" + more
    return head + answer + tail


def rate_limited_reply(retry_after: int) -> str:
    """The polite answer when one openid sends too much in a minute."""
    return (
        f"您发送得太频繁了，请 {retry_after} 秒后再发送。"
        "之前受理的诉求不受影响，回复“查询 工单号”可查看办理进度。"
    )


def _text(message: Inbound) -> Action:
    content = clean_text(message.fields.get("Content", ""))
    if not content:
        return Say(HOW_TO_REPORT)
    query = as_query(content)
    if query is not None:
        return query
    if _FILE_ANSWERED.fullmatch(unicodedata.normalize("NFKC", content).strip()):
        return FileAnswered()
    consented = _PUBLISH.fullmatch(content)
    if consented is not None and consented.group(1).strip():
        words = consented.group(1).strip()
        return _submit(message, words, [], typed=True, publish=True, note=PUBLISH_NOTE)
    return _submit(message, content, [], typed=True)


def _voice(message: Inbound) -> Action:
    voice = Attachment(kind="voice", media_id=_media_id(message.fields, required=True))
    recognised = clean_text(message.fields.get("Recognition", ""))
    if not recognised:
        return _submit(message, VOICE_PENDING, [voice], note="语音将由工作人员转写。")
    return as_query(recognised) or _submit(message, recognised, [voice], typed=True)


def _image(message: Inbound) -> Action:
    media_id = _media_id(message.fields, required=False)
    url = message.fields.get("PicUrl", "").strip() or None
    if url is not None and (len(url) > 1000 or not url.startswith(("https://", "http://"))):
        raise MalformedMessage("PicUrl 应当是 http(s) 地址")
    if media_id is None and url is None:
        raise MalformedMessage("图片消息缺少 MediaId")
    return _submit(message, "[图片留言]", [Attachment(kind="image", media_id=media_id, url=url)])


def _location(message: Inbound) -> Action:
    lat = _coordinate(message.fields, "Location_X", limit=90)
    lng = _coordinate(message.fields, "Location_Y", limit=180)
    label = clean_text(message.fields.get("Label", ""))[:200] or None
    where = Location(lat=lat, lng=lng, address=label)
    text = f"[位置] {label}" if label else f"[位置] 纬度 {lat}，经度 {lng}"
    return _submit(message, text, [], location=where)


def _submit(
    message: Inbound,
    text: str,
    attachments: list[Attachment],
    *,
    note: str = "",
    location: Location | None = None,
    typed: bool = False,
    publish: bool = False,
) -> Submit:
    """An item; `typed`: the text is the citizen's words, to infer the request type from."""
    if len(text) > MAX_TEXT_CHARS:
        raise MalformedMessage(f"文字内容太长，最多 {MAX_TEXT_CHARS} 个字")
    item = NewFeedback(
        channel=Channel.WECHAT,
        channel_ref=message.channel_ref,
        text=text,
        location=location,
        attachments=attachments,
        wechat_openid=message.openid,
        publication_consent=publish,
        request_type=infer_request_type(text) if typed else None,
    )
    return Submit(item=item, note=note)


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise MalformedMessage(f"缺少 {name} 字段")
    return value


def _name(fields: dict[str, str], name: str) -> str:
    value = _required(fields, name)
    if not _NAME.fullmatch(value):
        raise MalformedMessage(f"{name} 格式不正确")
    return value


def _media_id(fields: dict[str, str], *, required: bool) -> str | None:
    value = fields.get("MediaId", "").strip()
    if not value:
        if required:
            raise MalformedMessage("缺少 MediaId 字段")
        return None
    if len(value) > 200:
        raise MalformedMessage("MediaId 太长")
    return value


def _coordinate(fields: dict[str, str], name: str, *, limit: float) -> float:
    raw = _required(fields, name)
    try:
        value = float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and -limit <= value <= limit):
        raise MalformedMessage(f"{name} 应当是有效的坐标")
    return value
