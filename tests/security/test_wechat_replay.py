"""WeChat callbacks: a captured signature carries one message only, and safe mode stays safe.

In plaintext mode WeChat signs only (token, timestamp, nonce), not the body. The attack: one
captured `?signature&timestamp&nonce` was reused with two different bodies (other openids and
MsgIds) and made two tickets. And with an EncodingAESKey set, a request without
`encrypt_type=aes` was still taken as plaintext: the encryption could simply be left off.
wechatpy plays the WeChat platform; the checks are on intake's answers and on the log.
"""

import base64
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import wechatpy
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from services.intake.config import DEV_WECHAT_TOKEN
from tests.integration.conftest import find_events
from tests.security.own_intake import own_intake

pytestmark = pytest.mark.integration

PATH = "/api/v1/wechat"
ACCOUNT = "gh_12345hotline"
APP_ID = "wx5ecurity0000test"
AES_KEY = base64.b64encode(b"feedbackloop-security-aes-key-32").decode()[:43]


def signed_query() -> dict[str, str]:
    """A fresh plaintext-mode query, signed as WeChat signs it."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signer = WeChatSigner()
    signer.add_data(DEV_WECHAT_TOKEN, timestamp, nonce)
    return {"signature": str(signer.signature), "timestamp": timestamp, "nonce": nonce}


def message(content: str) -> tuple[str, bytes]:
    """A text message from a new citizen: its MsgId and its XML."""
    msg_id = str(uuid.uuid4().int % 10**18)
    openid = f"oSec{uuid.uuid4().hex[:20]}"
    xml = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
    return msg_id, xml.encode()


def encrypted(body: bytes, query: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """The safe-mode form of a push: query with msg_signature, body with the Encrypt field."""
    crypto = WeChatCrypto(DEV_WECHAT_TOKEN, AES_KEY, APP_ID)
    envelope = xmltodict.parse(crypto.encrypt_message(body, query["nonce"], query["timestamp"]))
    params = {**query, "encrypt_type": "aes", "msg_signature": envelope["xml"]["MsgSignature"]}
    outer = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{envelope['xml']['Encrypt']}]]></Encrypt></xml>"
    )
    return params, outer.encode()


def assert_refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail


def logged_refs(kafka: LocalKafka, refs: set[str], *, at_least: int) -> list[str]:
    """MsgIds among `refs` that reached feedback.received, read to the end of the log."""
    found = find_events(
        kafka.bootstrap,
        FEEDBACK_RECEIVED,
        lambda event: event.data.channel_ref in refs,
        count=at_least,
    )
    return sorted(event.data.channel_ref for event in found)


@pytest.fixture(scope="module")
def safe_intake(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An intake of an official account in safe mode (an EncodingAESKey is set)."""
    settings = {
        "FEEDBACKLOOP_INTAKE_WECHAT_ENCODING_AES_KEY": AES_KEY,
        "FEEDBACKLOOP_INTAKE_WECHAT_APP_ID": APP_ID,
    }
    with own_intake(stack, tmp_path_factory.mktemp("safe-intake"), **settings) as url:
        yield url


def test_a_captured_plaintext_signature_cannot_carry_a_second_message(
    stack: Stack, kafka: LocalKafka
) -> None:
    intake = stack.settings.url_of("intake")
    captured = signed_query()
    first_id, first = message("幸福小区3栋门口的路灯坏了一个月，晚上出行很不安全。")
    forged_id, forged = message("建设路的下水道堵了，污水漫到人行道上。")
    with httpx.Client(base_url=intake, timeout=5) as client:
        original = client.post(PATH, params=captured, content=first)
        assert original.status_code == 200, original.text
        assert "已受理" in str(wechatpy.parse_message(original.text).content)
        # WeChat's own retry (same query, byte-identical body) still gets the same answer.
        retry = client.post(PATH, params=captured, content=first)
        assert retry.status_code == 200 and retry.content == original.content
        assert_refused(client.post(PATH, params=captured, content=forged), "nonce", "已用于")
        # A marker sent after the forgery: once it is on the log, the forgery would be too.
        marker_id, marker = message("和平路的红绿灯不亮，路口很乱。")
        assert client.post(PATH, params=signed_query(), content=marker).status_code == 200
    assert logged_refs(kafka, {first_id, forged_id, marker_id}, at_least=2) == sorted(
        [first_id, marker_id]
    )


def test_a_captured_safe_mode_signature_cannot_carry_another_body(safe_intake: str) -> None:
    captured = signed_query()
    _, inner = message("滨河路的护栏被撞坏了，一直没人修。")
    params, body = encrypted(inner, captured)
    with httpx.Client(base_url=safe_intake, timeout=5) as client:
        original = client.post(PATH, params=params, content=body)
        assert original.status_code == 200, original.text
        retry = client.post(PATH, params=params, content=body)
        assert retry.status_code == 200 and retry.content == original.content
        # The same signed Encrypt inside another envelope is another body: refused.
        altered = body.replace(b"</xml>", b"<AgentID>1</AgentID></xml>")
        assert_refused(client.post(PATH, params=params, content=altered), "nonce", "已用于")


def test_with_an_aes_key_set_a_plaintext_push_is_refused(
    safe_intake: str, kafka: LocalKafka
) -> None:
    plain_id, plain = message("光明街的垃圾三天没人清运了，味道很大。")
    with httpx.Client(base_url=safe_intake, timeout=5) as client:
        # Correctly signed with the account's token, but not encrypted: a downgrade.
        assert_refused(client.post(PATH, params=signed_query(), content=plain), "安全模式")
        raw = {**signed_query(), "encrypt_type": "raw"}
        assert_refused(client.post(PATH, params=raw, content=plain), "安全模式")
        # The same account's encrypted pushes are taken.
        marker_id, marker = message("光明街的路面塌了一个坑。")
        params, body = encrypted(marker, signed_query())
        accepted = client.post(PATH, params=params, content=body)
        assert accepted.status_code == 200, accepted.text
    assert logged_refs(kafka, {plain_id, marker_id}, at_least=1) == [marker_id]
