"""One citizen item through each channel, as the real peers send it; returns the ticket number.

Used by tests that need traffic across every channel (the Kafka outage test, chaos runs).
"""

import re
import secrets
import time
import uuid
from collections.abc import Callable

import httpx
import wechatpy
from wechatpy.utils import WeChatSigner

from services.intake.config import DEV_OPEN311_KEY, DEV_WECHAT_TOKEN
from services.intake.taxonomy import category_code
from tests import factories

TICKET_NO = re.compile(r"\d{13,}")

#: Submits item number n through one channel and returns its ticket number.
Submit = Callable[[httpx.Client, int], str]


def web(client: httpx.Client, n: int) -> str:
    body = {"title": f"停电第{n}户", "text": f"幸福小区{n}号楼从昨晚开始停电，冰箱里的东西都坏了。"}
    reply = client.post("/api/v1/feedback", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["ticket_no"])


def wechat(client: httpx.Client, n: int) -> str:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signer = WeChatSigner()
    signer.add_data(DEV_WECHAT_TOKEN, timestamp, nonce)
    openid = f"oChannel{n:06d}{uuid.uuid4().hex[:14]}"
    xml = (
        f"<xml><ToUserName><![CDATA[gh_12345]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[小区{n}栋门口的路灯坏了一个星期，晚上很黑。]]></Content>"
        f"<MsgId>{uuid.uuid4().int % 10**18}</MsgId></xml>"
    )
    reply = client.post(
        "/api/v1/wechat",
        params={"signature": signer.signature, "timestamp": timestamp, "nonce": nonce},
        content=xml.encode(),
    )
    assert reply.status_code == 200, reply.text
    text = str(wechatpy.parse_message(reply.text).content)
    return _ticket_no(text)


def form(client: httpx.Client, n: int) -> str:
    fields = {
        "title": "噪音扰民",
        "text": f"楼下第{n}家店铺每天晚上放音乐到十二点，严重影响休息。",
        "token": secrets.token_urlsafe(24),
    }
    reply = client.post("/form", data=fields)
    assert reply.status_code == 200, reply.text
    return _ticket_no(reply.text)


def open311(client: httpx.Client, n: int) -> str:
    fields = {
        "api_key": DEV_OPEN311_KEY,
        "service_code": category_code("城乡建设", "城市建设和市政管理"),
        "address_string": f"A3区幸福路{n}号",
        "description": f"幸福路{n}号门口的井盖丢了，很危险。",
    }
    reply = client.post("/open311/v2/requests.json", data=fields)
    assert reply.status_code in (200, 201), reply.text
    return str(reply.json()[0]["service_request_id"])


def hotline(client: httpx.Client, n: int) -> str:
    """A call as a call centre posts it: `client` carries the centre's Authorization header."""
    call = {
        "call_id": f"call-{uuid.uuid4()}",
        "caller_number": factories.fresh_phone(),
        "started_at": "2026-11-22T09:00:00+08:00",
        "ended_at": "2026-11-22T09:03:00+08:00",
        "agent_id": "agent-007",
        "turns": [
            {"speaker": "agent", "text": "您好，12345热线。", "start_ms": 0, "end_ms": 1500},
            {
                "speaker": "caller",
                "text": f"我家在幸福小区{n}栋，自来水管漏水停水了。",
                "start_ms": 1600,
                "end_ms": 6000,
            },
        ],
    }
    reply = client.post("/api/v1/hotline/calls", json=call)
    assert reply.status_code in (200, 201), reply.text
    return str(reply.json()["ticket_no"])


def _ticket_no(text: str) -> str:
    match = TICKET_NO.search(text)
    assert match, f"no ticket number in {text[:300]!r}"
    return match.group(0)


ALL: list[Submit] = [web, wechat, form, open311, hotline]
