"""The WeChat official account callback, with wechatpy playing the WeChat platform.

wechatpy signs and encrypts what we receive and parses (and decrypts) what we reply, so
these tests hold us to what the real platform sends and accepts. No broker is needed: the
lifespan does not run, and accepted items wait in the outbox.
"""

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import wechatpy
import xmltodict
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    Priority,
    TicketEvent,
    TicketEventKind,
    TicketState,
    decode,
)
from services.intake import service
from services.intake.app import create_app
from services.intake.config import DEV_WECHAT_TOKEN, Settings
from services.intake.models import OutboxMessage
from services.intake.ticket_numbers import is_valid_ticket_no

PATH = "/api/v1/wechat"
TOKEN = DEV_WECHAT_TOKEN
APP_ID = "wx0000000000000000"
AES_KEY = base64.b64encode(b"feedbackloop-wechat-test-aes-key").decode()[:43]
ACCOUNT = "gh_12345hotline"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
OTHER_OPENID = "oUpF8uN4xKq_other_citizen_01"
COMPLAINT = "幸福小区3栋门口的路灯坏了一个月，晚上出行很不安全，请尽快修理。"


def sign(*parts: str) -> str:
    """WeChat's SHA-1 signature over the sorted parts, as wechatpy computes it."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def signed_query(*, token: str = TOKEN, timestamp: int | None = None) -> dict[str, str]:
    """The query WeChat puts on a plaintext callback."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex[:10]
    return {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def message_xml(msg_type: str, *, openid: str = OPENID, **fields: object) -> str:
    """A WeChat push document: strings in CDATA, numbers bare, as WeChat writes them."""
    values: dict[str, object] = {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": int(time.time()),
        "MsgType": msg_type,
        **fields,
    }
    nodes = [
        f"<{name}>{value}</{name}>"
        if isinstance(value, int)
        else f"<{name}><![CDATA[{value}]]></{name}>"
        for name, value in values.items()
    ]
    return "<xml>" + "".join(nodes) + "</xml>"


def text_xml(content: str, *, msg_id: int | None = None, openid: str = OPENID) -> str:
    """A text message with a fresh (or the given) MsgId."""
    return message_xml(
        "text", openid=openid, Content=content, MsgId=msg_id or uuid.uuid4().int % 10**16
    )


class Platform:
    """The WeChat side of the callback: signs, encrypts, posts, and reads the replies."""

    def __init__(self, client: TestClient, *, aes: bool = False) -> None:
        self.client = client
        self.aes = aes
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    def post(
        self,
        xml: str | bytes,
        *,
        timestamp: int | None = None,
        token: str = TOKEN,
        query: dict[str, str] | None = None,
    ) -> Any:
        """Push a message the way WeChat does in this platform's mode (under `query` if given)."""
        params = dict(query) if query else signed_query(token=token, timestamp=timestamp)
        body = xml.encode() if isinstance(xml, str) else xml
        if self.aes:
            crypto = WeChatCrypto(token, AES_KEY, APP_ID)
            envelope = xmltodict.parse(
                crypto.encrypt_message(body, params["nonce"], params["timestamp"])
            )["xml"]
            params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
            body = (
                f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
            ).encode()
        return self.client.post(PATH, params=params, content=body)

    def reply(self, response: Any, *, openid: str | None = OPENID) -> Any:
        """Our passive reply as wechatpy reads it (decrypted in safe mode)."""
        assert response.status_code == 200, response.text
        xml = response.text
        if self.aes:
            envelope = xmltodict.parse(xml)["xml"]
            xml = self.crypto.decrypt_message(
                xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
            )
        message = wechatpy.parse_message(xml)
        assert message.type == "text"
        assert openid is None or message.target == openid
        assert message.source == ACCOUNT
        return message


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    """An intake without its lifespan: no relay, no read-model consumer, no broker.

    Its account is in plaintext mode unless `wechat_encoding_aes_key` is given: with a key,
    plaintext pushes are refused.
    """
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'intake.db'}",
        "kafka_bootstrap": "127.0.0.1:1",
        "rate_limit_per_minute": 1000,
        "wechat_encoding_aes_key": None,
        **overrides,
    }
    config = Settings(**values)
    return TestClient(create_app(config), raise_server_exceptions=False)


def received(client: TestClient) -> list[Envelope[FeedbackReceived]]:
    """The FeedbackReceived events waiting in the outbox."""
    with client.app.state.intake.sessions() as session:  # type: ignore[attr-defined]
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return [decode(row.payload, expect=FeedbackReceived) for row in rows]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield make_client(tmp_path)


@pytest.fixture(params=["plaintext", "aes"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    """An official account in each mode, and the intake configured for it."""
    aes = request.param == "aes"
    client = make_client(tmp_path, wechat_encoding_aes_key=AES_KEY if aes else None)
    return Platform(client, aes=aes)


def submit(platform: Platform, xml: str) -> tuple[Any, Envelope[FeedbackReceived]]:
    """Push a message that must become a ticket; its reply and its event."""
    reply = platform.reply(platform.post(xml))
    (event,) = received(platform.client)
    assert event.data.ticket_no in reply.content
    return reply, event


# --- URL verification -----------------------------------------------------------------


def test_url_verification_echoes_echostr_when_the_signature_holds(client: TestClient) -> None:
    reply = client.get(PATH, params={**signed_query(), "echostr": "5938472901"})
    assert reply.status_code == 200
    assert reply.text == "5938472901"


@pytest.mark.parametrize(
    "params",
    [
        {**signed_query(token="not-our-token"), "echostr": "1"},
        {**signed_query(), "signature": "0" * 40, "echostr": "1"},
        {"echostr": "1"},
        {**signed_query(timestamp=int(time.time()) - 3600), "echostr": "1"},
    ],
    ids=["other-token", "forged", "unsigned", "stale"],
)
def test_url_verification_is_refused_without_a_valid_signature(
    client: TestClient, params: dict[str, str]
) -> None:
    reply = client.get(PATH, params=params)
    assert reply.status_code == 403
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert "签名" in reply.json()["detail"]


# --- messages that become tickets -----------------------------------------------------


def test_a_text_message_becomes_a_ticket_and_the_reply_gives_its_number(
    platform: Platform,
) -> None:
    xml = text_xml(COMPLAINT, msg_id=6054768590064713728)
    reply, event = submit(platform, xml)
    assert is_valid_ticket_no(event.data.ticket_no)
    assert f"查询 {event.data.ticket_no}" in reply.content
    assert event.data.channel == "wechat"
    assert event.data.channel_ref == "6054768590064713728"
    assert event.data.text == COMPLAINT
    assert event.data.contact is not None
    assert event.data.contact.wechat_openid == OPENID
    assert event.data.contact.phone_masked is None


def test_the_same_msgid_three_times_is_one_ticket_with_byte_identical_replies(
    platform: Platform,
) -> None:
    xml = text_xml(COMPLAINT, msg_id=6054768590064713729)
    # WeChat's retries come with fresh timestamps and nonces; the answer must not change.
    replies = [platform.post(xml, timestamp=int(time.time()) - delay) for delay in (0, 5, 10)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert replies[0].content == replies[1].content == replies[2].content
    (event,) = received(platform.client)
    assert event.data.ticket_no in platform.reply(replies[2]).content


def test_a_recognised_voice_message_is_a_ticket_with_the_recognised_text(
    platform: Platform,
) -> None:
    xml = message_xml(
        "voice", MediaId="voice-media-1", Format="amr", Recognition=COMPLAINT, MsgId=7001
    )
    _, event = submit(platform, xml)
    assert event.data.text == COMPLAINT
    assert [(a.kind, a.media_id) for a in event.data.attachments] == [("voice", "voice-media-1")]


def test_an_unrecognised_voice_message_is_accepted_and_flagged_for_transcription(
    platform: Platform,
) -> None:
    xml = message_xml("voice", MediaId="voice-media-2", Format="amr", MsgId=7002)
    reply, event = submit(platform, xml)
    assert event.data.text == "[语音留言，待转写]"
    assert [(a.kind, a.media_id) for a in event.data.attachments] == [("voice", "voice-media-2")]
    assert "转写" in reply.content


def test_an_image_is_a_ticket_with_the_picture_attached(platform: Platform) -> None:
    url = "http://mmbiz.qpic.cn/mmbiz_jpg/pothole.jpg"
    _, event = submit(platform, message_xml("image", PicUrl=url, MediaId="img-9", MsgId=7003))
    (attachment,) = event.data.attachments
    assert (attachment.kind, attachment.media_id, attachment.url) == ("image", "img-9", url)


def test_a_location_is_a_ticket_with_coordinates_and_the_label_as_address(
    platform: Platform,
) -> None:
    xml = message_xml(
        "location",
        Location_X="28.228209",
        Location_Y="112.938814",
        Scale=15,
        Label="湖南省长沙市岳麓区幸福小区",
        MsgId=7004,
    )
    _, event = submit(platform, xml)
    assert event.data.location is not None
    assert event.data.location.lat == pytest.approx(28.228209)
    assert event.data.location.lng == pytest.approx(112.938814)
    assert event.data.location.address == "湖南省长沙市岳麓区幸福小区"


def test_a_message_without_msgid_is_deduplicated_by_openid_and_create_time(
    client: TestClient,
) -> None:
    platform = Platform(client)
    xml = message_xml("text", Content=COMPLAINT, CreateTime=1_800_000_000)
    first, second = platform.post(xml), platform.post(xml)
    assert first.content == second.content
    (event,) = received(client)
    assert event.data.channel_ref == f"{OPENID}:1800000000"


# --- events and messages that create nothing ------------------------------------------


def test_subscribing_gets_a_welcome_explaining_how_to_report_and_query(
    platform: Platform,
) -> None:
    reply = platform.reply(platform.post(message_xml("event", Event="subscribe")))
    assert "感谢关注" in reply.content
    assert "反映问题" in reply.content and "查询 工单号" in reply.content
    assert received(platform.client) == []


@pytest.mark.parametrize("event", ["unsubscribe", "CLICK", "VIEW", "LOCATION"])
def test_other_events_are_acknowledged_without_a_ticket(platform: Platform, event: str) -> None:
    response = platform.post(message_xml("event", Event=event, EventKey="MENU_1"))
    assert response.status_code == 200
    assert response.text == "success"
    assert received(platform.client) == []


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (message_xml("link", Title="t", Url="http://example.com", MsgId=1), "暂不支持"),
        (text_xml("   \u200b "), "请用文字、语音、图片或位置"),
        (text_xml("查询"), "查询 工单号"),
    ],
    ids=["link", "blank-text", "bare-query"],
)
def test_messages_without_an_item_get_guidance_and_create_nothing(
    client: TestClient, xml: str, expected: str
) -> None:
    platform = Platform(client)
    assert expected in platform.reply(platform.post(xml)).content
    assert received(client) == []


# --- refused requests -----------------------------------------------------------------


def test_a_bad_signature_is_refused_and_creates_nothing(platform: Platform) -> None:
    response = platform.post(text_xml(COMPLAINT), token="not-our-token")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert received(platform.client) == []


@pytest.mark.parametrize("offset", [-360, 360])
def test_a_timestamp_six_minutes_off_is_refused(platform: Platform, offset: int) -> None:
    response = platform.post(text_xml(COMPLAINT), timestamp=int(time.time()) + offset)
    assert response.status_code == 403
    assert received(platform.client) == []


def test_a_plaintext_message_without_any_signature_is_refused(client: TestClient) -> None:
    assert client.post(PATH, content=text_xml(COMPLAINT).encode()).status_code == 403
    assert received(client) == []


XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{OPENID}</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>"
    "<MsgId>42</MsgId></xml>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml ['
    '<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + f"]><xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{OPENID}</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content>"
    "<MsgId>43</MsgId></xml>"
)


@pytest.mark.parametrize("xml", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_entity_attacks_are_refused_with_a_4xx_and_create_nothing(
    platform: Platform, xml: str
) -> None:
    response = platform.post(xml)
    assert response.status_code == 400
    assert "DTD" in response.json()["detail"]
    assert received(platform.client) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "为空"),
        (b"not xml at all", "不是有效的 XML"),
        (b"<xml><Content>unclosed</xml>", "不是有效的 XML"),
        # Not UTF-8: in safe mode it already fails as the decrypted text.
        ("<xml><a>诉求</a></xml>".encode("gbk"), "不是有效的 XML|无法解密"),
        (b"<root><MsgType>text</MsgType></root>", "根元素"),
        (message_xml("text", Content="x").replace(OPENID, "").encode(), "FromUserName"),
        (message_xml("text", Content="x", FromUserName="o pen id").encode(), "FromUserName"),
        (message_xml("text", Content="x", CreateTime="yesterday").encode(), "CreateTime"),
        (message_xml("text", Content="x", MsgId="abc").encode(), "MsgId"),
        (message_xml("text", Content="很" * 4001, MsgId=1).encode(), "太长"),
        (message_xml("voice", MsgId=1).encode(), "MediaId"),
        (message_xml("image", MsgId=1).encode(), "MediaId"),
        (message_xml("image", MediaId="m", PicUrl="file:///x", MsgId=1).encode(), "PicUrl"),
        (message_xml("location", Location_X="north", Location_Y="1", MsgId=1).encode(), "坐标"),
        (message_xml("location", Location_X="91", Location_Y="1", MsgId=1).encode(), "坐标"),
        (message_xml("location", Location_X="nan", Location_Y="1", MsgId=1).encode(), "坐标"),
        (message_xml("event").encode(), "Event"),
        (b"<xml><MsgType>text</MsgType><MsgType>text</MsgType></xml>", "重复"),
    ],
)
def test_malformed_messages_get_a_clear_400_never_a_5xx(
    platform: Platform, body: bytes, detail: str
) -> None:
    response = platform.post(body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(part in response.json()["detail"] for part in detail.split("|"))
    assert received(platform.client) == []


def test_safe_mode_messages_are_refused_when_no_aes_key_is_configured(tmp_path: Path) -> None:
    platform = Platform(make_client(tmp_path, wechat_encoding_aes_key=None), aes=True)
    response = platform.post(text_xml(COMPLAINT))
    assert response.status_code == 400
    assert "EncodingAESKey" in response.json()["detail"]


def test_a_forged_msg_signature_is_refused(tmp_path: Path) -> None:
    client = make_client(tmp_path, wechat_encoding_aes_key=AES_KEY)
    params = {**signed_query(), "encrypt_type": "aes", "msg_signature": "0" * 40}
    body = f"<xml><Encrypt><![CDATA[{base64.b64encode(b'x' * 32).decode()}]]></Encrypt></xml>"
    assert client.post(PATH, params=params, content=body).status_code == 403


def test_an_oversized_body_gets_413(client: TestClient) -> None:
    response = Platform(client).post(text_xml("很" * 40_000))
    assert response.status_code == 413
    assert received(client) == []


# --- replays and downgrades -----------------------------------------------------------


def test_a_signed_query_reused_with_another_body_is_refused(platform: Platform) -> None:
    captured = signed_query()
    first = platform.post(text_xml(COMPLAINT), query=captured)
    assert first.status_code == 200
    forged = platform.post(text_xml("另一条诉求", openid=OTHER_OPENID), query=captured)
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert "已用于另一条消息" in forged.json()["detail"]
    assert len(received(platform.client)) == 1


def test_the_byte_identical_request_under_a_used_nonce_is_wechats_retry(
    platform: Platform,
) -> None:
    captured = signed_query()
    body = text_xml(COMPLAINT).encode()
    if platform.aes:
        # Encrypt once, so the retry's bytes are the same (the encryption is randomised).
        envelope = xmltodict.parse(
            platform.crypto.encrypt_message(body, captured["nonce"], captured["timestamp"])
        )["xml"]
        captured = {**captured, "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
        body = f"<xml><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>".encode()
        replies = [platform.client.post(PATH, params=captured, content=body) for _ in range(3)]
    else:
        replies = [platform.post(body, query=captured) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert replies[0].content == replies[1].content == replies[2].content
    assert len(received(platform.client)) == 1


@pytest.mark.parametrize("encrypt_type", [None, "raw", "RAW"])
def test_with_an_aes_key_plaintext_pushes_are_refused(
    tmp_path: Path, encrypt_type: str | None
) -> None:
    client = make_client(tmp_path, wechat_encoding_aes_key=AES_KEY)
    query = signed_query() | ({"encrypt_type": encrypt_type} if encrypt_type else {})
    response = Platform(client).post(text_xml(COMPLAINT), query=query)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "安全模式" in response.json()["detail"]
    assert received(client) == []


# --- progress queries -----------------------------------------------------------------


def seed_status(client: TestClient, event: Envelope[FeedbackReceived], **changes: Any) -> None:
    """Put a ticket into the read model, as the consumer of ticket.events would."""
    data = {
        "ticket_id": event.data.ticket_id,
        "ticket_no": event.data.ticket_no,
        "kind": TicketEventKind.OPENED,
        "state_to": TicketState.ROUTED,
        "department_code": "urban",
        "department_name": "市城市管理局",
        "priority": Priority.NORMAL,
        "actor": "system",
        "due_at": datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
        "received_at": event.data.received_at,
        "occurred_at": datetime.now(UTC),
        **changes,
    }
    intake = client.app.state.intake  # type: ignore[attr-defined]
    with intake.sessions.begin() as session:
        service.update_ticket_status(
            session=session, event_id=str(uuid.uuid4()), event=TicketEvent(**data)
        )


@pytest.mark.parametrize(
    "query",
    ["查询 {no}", "查询{no}", "查询\u3000{no}", "进度 {no}", "查询：{no}", "{fullwidth}"],
    ids=["space", "joined", "full-width-space", "progress", "colon", "full-width-digits"],
)
def test_the_owner_sees_state_department_and_deadline_in_beijing_time(
    platform: Platform, query: str
) -> None:
    _, event = submit(platform, text_xml(COMPLAINT))
    seed_status(platform.client, event)
    number = event.data.ticket_no
    fullwidth = "查询 " + "".join(chr(ord(d) + 0xFEE0) for d in number)
    text = query.format(no=number, fullwidth=fullwidth)
    answer = platform.reply(platform.post(text_xml(text))).content
    assert number in answer
    assert "已派单" in answer
    assert "市城市管理局" in answer
    assert "2026年11月30日 18:00（北京时间）" in answer
    assert len(received(platform.client)) == 1  # a query is not a ticket


def test_a_voice_query_is_answered_like_a_typed_one(client: TestClient) -> None:
    platform = Platform(client)
    _, event = submit(platform, text_xml(COMPLAINT))
    seed_status(client, event)
    voice = message_xml(
        "voice", MediaId="v", Recognition=f"查询{event.data.ticket_no}。", MsgId=8001
    )
    assert "市城市管理局" in platform.reply(platform.post(voice)).content
    assert len(received(client)) == 1


def test_a_ticket_not_yet_in_the_read_model_is_accepted_and_being_dispatched(
    client: TestClient,
) -> None:
    platform = Platform(client)
    _, event = submit(platform, text_xml(COMPLAINT))
    answer = platform.reply(platform.post(text_xml(f"查询 {event.data.ticket_no}"))).content
    assert "已受理，正在派单" in answer


def test_other_peoples_and_unknown_tickets_get_the_same_not_found_answer(
    client: TestClient,
) -> None:
    platform = Platform(client)
    _, event = submit(platform, text_xml(COMPLAINT))
    seed_status(client, event)
    theirs = platform.post(text_xml(f"查询 {event.data.ticket_no}", openid=OTHER_OPENID))
    unknown = platform.post(text_xml("查询 2611221999990"))
    garbled = platform.post(text_xml("查询 12345"))
    answers = [
        platform.reply(theirs, openid=OTHER_OPENID).content,
        platform.reply(unknown).content,
        platform.reply(garbled).content,
    ]
    assert all("没有找到您提交的这个工单" in answer for answer in answers)
    assert len(set(answers)) == 1
    assert "市城市管理局" not in answers[0]
    assert len(received(client)) == 1


def test_a_web_ticket_cannot_be_queried_from_wechat(client: TestClient) -> None:
    web = client.post("/api/v1/feedback", json={"text": COMPLAINT}).json()
    platform = Platform(client)
    answer = platform.reply(platform.post(text_xml(f"查询 {web['ticket_no']}")))
    assert "没有找到您提交的这个工单" in answer.content


# --- rate limiting --------------------------------------------------------------------


def test_too_many_messages_get_a_polite_reply_not_an_error(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=2)
    platform = Platform(client)
    first = text_xml(COMPLAINT, msg_id=9001)
    responses = [platform.post(xml) for xml in (first, text_xml(COMPLAINT), text_xml(COMPLAINT))]
    assert [r.status_code for r in responses] == [200, 200, 200]
    limited = platform.reply(responses[2]).content
    assert "太频繁" in limited and "秒后" in limited
    assert len(received(client)) == 2
    # A retry of an accepted message is still answered with its ticket.
    assert platform.post(first).content == responses[0].content


# --- bounded fuzzing ------------------------------------------------------------------

PAYLOAD_FIELDS = [
    "Content",
    "MsgId",
    "MediaId",
    "Recognition",
    "PicUrl",
    "Location_X",
    "Location_Y",
    "Label",
    "Event",
    "EventKey",
    "Format",
]
# Mostly characters XML allows, so that most documents get past the parser to the fields.
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)
FIELD_VALUES = st.one_of(
    XML_TEXT,
    XML_TEXT,
    st.text(max_size=60),
    st.floats().map(str),
    st.integers().map(str),
    st.sampled_from(["查询 2611221000014", "进度", "subscribe", "http://x.cn/a.jpg", ""]),
)


def mostly(good: str, *bad: str) -> st.SearchStrategy[str]:
    """The good value three times in four, else one of the bad ones."""
    return st.one_of(st.just(good), st.just(good), st.just(good), st.sampled_from(bad))


@st.composite
def wechat_documents(draw: st.DrawFn) -> bytes:
    """Message-shaped XML with random fields and values, or arbitrary bytes and text."""
    kind = draw(st.sampled_from(["fields"] * 8 + ["bytes", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    values = {
        "ToUserName": draw(mostly(ACCOUNT, "", "gh x")),
        "FromUserName": draw(mostly(OPENID, "", "o-x", "a b", "x" * 65)),
        "CreateTime": draw(mostly("1800000000", "", "-1", "9" * 13, "1e9")),
        "MsgType": draw(
            st.sampled_from(["text", "voice", "image", "location", "event", "video", "link", ""])
        ),
    }
    values.update(draw(st.dictionaries(st.sampled_from(PAYLOAD_FIELDS), FIELD_VALUES, max_size=6)))
    escape = draw(st.booleans())
    nodes = []
    for name, value in values.items():
        if escape:
            value = value.replace("&", "&amp;").replace("<", "&lt;")
            nodes.append(f"<{name}>{value}</{name}>")
        else:
            nodes.append(f"<{name}><![CDATA[{value}]]></{name}>")
    return ("<xml>" + "".join(nodes) + "</xml>").encode("utf-8", "surrogatepass")


def test_fuzzed_signed_messages_never_get_a_5xx(tmp_path: Path) -> None:
    plain = Platform(make_client(tmp_path / "plain"))
    safe = Platform(make_client(tmp_path / "safe", wechat_encoding_aes_key=AES_KEY), aes=True)

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(body=wechat_documents(), aes=st.booleans())
    def check(body: bytes, aes: bool) -> None:
        platform = safe if aes else plain
        response = platform.post(body)
        assert response.status_code < 500, response.text
        assert response.status_code in (200, 400, 413), response.text
        if response.status_code == 200 and response.text != "success":
            platform.reply(response, openid=None)

    check()


def test_fuzzed_query_parameters_are_refused_cleanly(client: TestClient) -> None:
    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(params=st.dictionaries(st.sampled_from(list(signed_query())), st.text(max_size=40)))
    def check(params: dict[str, str]) -> None:
        for method in ("GET", "POST"):
            response = client.request(method, PATH, params=params, content=b"<xml/>")
            assert response.status_code in (400, 403, 422), response.text

    check()


@pytest.mark.parametrize("key", ["short", AES_KEY[:-1] + "!", AES_KEY + "A"])
def test_a_mistyped_encoding_aes_key_stops_intake_at_start(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        Settings(wechat_encoding_aes_key=key)
