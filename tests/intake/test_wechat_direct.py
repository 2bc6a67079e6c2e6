"""直接答复 on WeChat, with wechatpy playing the platform and a real followup's knowledge base."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedbackloop.events import RequestType
from services.intake.knowledge import KnowledgeBase
from services.intake.wechat_messages import MAX_REPLY_BYTES, NOTHING_TO_FILE, direct_reply
from tests.intake.knowledge_desk import (
    PERMIT,
    followup_with_articles,
    knowledge_of,
    received,
    unreachable,
    with_knowledge,
)
from tests.intake.test_wechat import AES_KEY, OTHER_OPENID, Platform, make_client, text_xml

CLOSE = "请问居住证办理需要哪些材料？"  # near the article's title: answered by itself
VAGUE = "请问停水了去哪里取水"  # a consultation, but no article is close enough


@pytest.fixture(params=["plaintext", "aes"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    desk, _ = followup_with_articles(tmp_path)
    aes = request.param == "aes"
    client = make_client(tmp_path, wechat_encoding_aes_key=AES_KEY if aes else None)
    return Platform(with_knowledge(client, knowledge_of(desk)), aes=aes)


def test_a_consultation_is_answered_from_the_knowledge_base_and_recorded(
    platform: Platform,
) -> None:
    xml = text_xml(CLOSE)
    first = platform.post(xml)
    reply = platform.reply(first)
    (event,) = received(platform.client)
    item = event.data
    assert item.request_type is RequestType.CONSULTATION
    assert item.direct_answer is not None
    assert item.direct_answer.answered_by == "wechat:knowledge"
    assert item.direct_answer.score is not None and item.direct_answer.score >= 0.25
    assert item.ticket_no in reply.content
    assert PERMIT["title"] in reply.content and "派出所" in reply.content
    assert "回复“人工”" in reply.content
    # WeChat's retry gets the same bytes, even with the knowledge base gone meanwhile.
    with_knowledge(platform.client, unreachable())
    assert platform.post(xml).text == first.text
    assert len(received(platform.client)) == 1


def test_a_vague_consultation_or_a_complaint_is_filed_as_usual(platform: Platform) -> None:
    vague = platform.reply(platform.post(text_xml(VAGUE)))
    complaint = platform.reply(platform.post(text_xml("我要投诉超市缺斤少两")))
    first, second = received(platform.client)
    assert (first.data.request_type, first.data.direct_answer) == (RequestType.CONSULTATION, None)
    assert (second.data.request_type, second.data.direct_answer) == (RequestType.COMPLAINT, None)
    for reply, event in ((vague, first), (complaint, second)):
        assert f"工单号 {event.data.ticket_no}" in reply.content and "人工" not in reply.content


def test_replying_manual_files_the_question_for_a_department(platform: Platform) -> None:
    platform.reply(platform.post(text_xml(CLOSE)))
    manual = text_xml("转人工")
    filed = platform.reply(platform.post(manual))
    answered, again = received(platform.client)
    assert again.data.ticket_no in filed.content and "转交相关部门办理" in filed.content
    assert again.data.text == answered.data.text and again.data.direct_answer is None
    assert again.data.request_type is RequestType.CONSULTATION
    # WeChat's retry of the same “人工” is the same ticket; another “人工” has nothing left.
    assert platform.reply(platform.post(manual)).content == filed.content
    assert platform.reply(platform.post(text_xml("人工"))).content == NOTHING_TO_FILE
    other = platform.reply(
        platform.post(
            text_xml("人工", openid=OTHER_OPENID),
        ),
        openid=OTHER_OPENID,
    )
    assert other.content == NOTHING_TO_FILE  # one citizen cannot file another's question
    assert len(received(platform.client)) == 2


@pytest.fixture
def silent_followup() -> Iterator[str]:
    """A followup that takes connections and never answers (hung, or far too slow)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_hung_followup_costs_at_most_the_timeout_and_the_item_is_filed(
    tmp_path: Path, silent_followup: str
) -> None:
    client = make_client(tmp_path)
    slow = KnowledgeBase.connect(
        base_url=silent_followup, token="0a1b.secret", timeout=0.3, transport=None
    )
    platform = Platform(with_knowledge(client, slow))
    started = time.monotonic()
    reply = platform.reply(platform.post(text_xml(CLOSE)))
    assert time.monotonic() - started < 2.0  # well inside WeChat's five seconds
    (event,) = received(client)
    assert event.data.direct_answer is None and event.data.ticket_no in reply.content


def test_a_long_answer_fits_wechats_reply_limit_with_a_link_to_the_rest() -> None:
    text = direct_reply(
        ticket_no="2612041000017",
        title="居住证办理",
        answer="办理须知。" * 400,
        status_url="http://127.0.0.1:8003/t/2612041000017?k=abc",
    )
    assert len(text.encode()) <= MAX_REPLY_BYTES
    assert text.endswith("我们将转交相关部门办理。") and "完整答复：http" in text
