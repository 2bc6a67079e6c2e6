"""WeChat callback XML: reading untrusted bodies safely and rendering passive text replies."""

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.replies import TextReply

# WeChat documents have a dozen or so flat fields; anything wider is not a WeChat message.
MAX_FIELDS = 64


class MalformedMessage(ValueError):
    """A body that is not a usable WeChat message; `detail` is the Chinese text of the 400."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_fields(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat XML document, refusing DTDs, entities and bad XML."""
    if not body.strip():
        raise MalformedMessage("请求内容为空，应当是微信消息 XML")
    try:
        # WeChat never sends a DTD, so any DTD (XXE, entity expansion) is refused outright.
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MalformedMessage("不接受带 DTD 或实体声明的 XML") from exc
    except (ParseError, ValueError, LookupError) as exc:
        raise MalformedMessage("请求内容不是有效的 XML") from exc
    if root.tag != "xml":
        raise MalformedMessage("微信消息的根元素应当是 <xml>")
    if len(root) > MAX_FIELDS:
        raise MalformedMessage(f"微信消息的字段太多（最多 {MAX_FIELDS} 个）")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag in fields:
            raise MalformedMessage(f"字段 {child.tag} 重复出现")
        # Nested structures (e.g. ScanCodeInfo) carry nothing intake uses; keep the name only.
        fields[child.tag] = "" if len(child) else (child.text or "")
    return fields


def render_text_reply(*, openid: str, account: str, content: str, create_time: int) -> str:
    """A passive text reply to `openid` from the official account `account`."""
    # The names must already be checked to be plain identifiers: wechatpy puts them into
    # CDATA sections without escaping.
    reply = TextReply(source=account, target=openid, content=content, time=create_time)
    return str(reply.render())
