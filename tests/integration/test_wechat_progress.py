"""WeChat on the real loop: a message becomes a ticket, and `查询 <工单号>` follows it.

The reply to the query names the department only once the router has routed the item,
followup has opened the ticket and published it on ticket.events, and intake's read model
has consumed that event: the whole loop, back to the citizen.
"""

import time
import uuid

import httpx
import pytest
import wechatpy
from wechatpy.utils import WeChatSigner

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events import FeedbackReceived
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from services.intake.config import DEV_WECHAT_TOKEN
from tests.integration.conftest import find_events, wait_for

pytestmark = pytest.mark.integration

ACCOUNT = "gh_12345hotline"
COMPLAINT = "幸福小区3栋的自来水管漏水，已经停水两天了，物业说不归他们管，请尽快派人维修。"


def push(
    intake: str, *, openid: str, content: str, msg_id: int, created: int | None = None
) -> httpx.Response:
    """Send a plaintext text message signed with the development token, as WeChat would."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    create_time = str(created if created is not None else timestamp)
    signer = WeChatSigner()
    signer.add_data(DEV_WECHAT_TOKEN, timestamp, nonce)
    xml = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
    return httpx.post(
        f"{intake}/api/v1/wechat",
        params={"signature": signer.signature, "timestamp": timestamp, "nonce": nonce},
        content=xml.encode(),
        timeout=5,  # WeChat's own limit for a passive reply
    )


def reply_text(response: httpx.Response, openid: str) -> str:
    """The content of our passive reply, as wechatpy reads it."""
    assert response.status_code == 200, response.text
    message = wechatpy.parse_message(response.text)
    assert message.type == "text" and message.target == openid
    return str(message.content)


def test_a_wechat_message_is_routed_and_its_progress_names_the_department(
    kafka: LocalKafka, stack: Stack
) -> None:
    intake = stack.services["intake"].url
    openid = "oInteg" + uuid.uuid4().hex[:22]
    msg_id = uuid.uuid4().int % 10**18

    # WeChat's retry is the same message (same MsgId and CreateTime), sent again later.
    created = int(time.time())
    first = push(intake, openid=openid, content=COMPLAINT, msg_id=msg_id, created=created)
    retry = push(intake, openid=openid, content=COMPLAINT, msg_id=msg_id, created=created)
    assert retry.content == first.content
    accepted = reply_text(first, openid)
    (received,) = find_events(
        kafka.bootstrap,
        FEEDBACK_RECEIVED,
        lambda e: isinstance(e.data, FeedbackReceived) and e.data.channel_ref == str(msg_id),
    )
    ticket_no = received.data.ticket_no
    assert ticket_no in accepted
    assert received.data.contact.wechat_openid == openid

    def progress() -> str | None:
        answer = reply_text(
            push(intake, openid=openid, content=f"查询 {ticket_no}", msg_id=_fresh_msg_id()),
            openid,
        )
        return answer if "市水务局" in answer else None

    answer = wait_for(progress, timeout=90, what="the department in the progress answer")
    assert ticket_no in answer and "办理时限" in answer and "北京时间" in answer

    stranger = "oStranger" + uuid.uuid4().hex[:19]
    theirs = push(intake, openid=stranger, content=f"查询 {ticket_no}", msg_id=_fresh_msg_id())
    assert "没有找到您提交的这个工单" in reply_text(theirs, stranger)


def _fresh_msg_id() -> int:
    return uuid.uuid4().int % 10**18
