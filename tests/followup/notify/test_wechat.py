"""The WeChat client: token cache and refresh, message shapes, and how errors are classified."""

import logging

import httpx
import pytest

from services.followup.notify.wechat import WeChatClient, WeChatError
from tests.followup.notify.fake_wechat import (
    APP_ID,
    APP_SECRET,
    BUSY,
    STALE_TOKEN,
    UNSUBSCRIBED,
    WINDOW_CLOSED,
    FakeWeChat,
)

OPENID = "oia2TjuEGTNoeX76QEjQNrcURxG8"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_fetched_once_and_reused_across_sends(
    fake_wechat: FakeWeChat, wechat: WeChatClient
) -> None:
    wechat.send_text(OPENID, "您反映的问题（工单号2611221000014）已由市水务局签收办理。")
    wechat.send_text(OPENID, "第二条")
    wechat.send_template(OPENID, "tmpl-1", None, {"thing2": "诉求已办结"})
    assert fake_wechat.tokens_issued == 1
    assert fake_wechat.tokens_used == ["84_TOKEN_1"] * 3
    assert fake_wechat.custom_sent[0] == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您反映的问题（工单号2611221000014）已由市水务局签收办理。"},
    }


def test_a_template_message_has_wechats_shape_and_returns_the_msgid(
    fake_wechat: FakeWeChat, wechat: WeChatClient
) -> None:
    msgid = wechat.send_template(
        OPENID,
        "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "https://12345.example.gov.cn/t/2611221000014",
        {"character_string1": "2611221000014", "thing2": "诉求已办结"},
    )
    assert msgid == 200228332
    assert fake_wechat.templates_sent == [
        {
            "touser": OPENID,
            "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
            "url": "https://12345.example.gov.cn/t/2611221000014",
            "data": {
                "character_string1": {"value": "2611221000014"},
                "thing2": {"value": "诉求已办结"},
            },
        }
    ]


def test_a_token_refreshed_elsewhere_is_refreshed_once_and_the_send_retried(
    fake_wechat: FakeWeChat, wechat: WeChatClient
) -> None:
    fake_wechat.custom_replies.append(STALE_TOKEN)
    wechat.send_text(OPENID, "你好")
    assert fake_wechat.tokens_issued == 2
    assert fake_wechat.tokens_used == ["84_TOKEN_1", "84_TOKEN_2"]
    assert len(fake_wechat.custom_sent) == 1


def test_a_token_rejected_twice_is_a_transient_error(
    fake_wechat: FakeWeChat, wechat: WeChatClient
) -> None:
    fake_wechat.custom_replies.extend([STALE_TOKEN, {**STALE_TOKEN, "errcode": 42001}])
    with pytest.raises(WeChatError) as caught:
        wechat.send_text(OPENID, "你好")
    assert caught.value.errcode == 42001
    assert not caught.value.permanent
    assert fake_wechat.tokens_issued == 2


def test_a_token_is_refreshed_five_minutes_before_it_expires(fake_wechat: FakeWeChat) -> None:
    clock = Clock()
    wechat = WeChatClient(fake_wechat.client(), APP_ID, APP_SECRET, clock=clock)
    wechat.send_text(OPENID, "一")
    clock.now += 7200 - 300 - 1
    wechat.send_text(OPENID, "二")
    assert fake_wechat.tokens_issued == 1
    clock.now += 1
    wechat.send_text(OPENID, "三")
    assert fake_wechat.tokens_issued == 2
    assert fake_wechat.tokens_used == ["84_TOKEN_1", "84_TOKEN_1", "84_TOKEN_2"]


@pytest.mark.parametrize(
    ("reply", "permanent", "window_closed"),
    [
        (BUSY, False, False),
        (WINDOW_CLOSED, True, True),
        (UNSUBSCRIBED, True, False),
        ({"errcode": 40003, "errmsg": "invalid openid rid: 1"}, True, False),
        ({"errcode": 45009, "errmsg": "reach max api daily quota limit"}, False, False),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), False, False),
        (httpx.Response(200, text="<html>维护中</html>"), False, False),
        (httpx.ConnectTimeout("timed out"), False, False),
    ],
)
def test_errors_say_whether_retrying_can_help(
    fake_wechat: FakeWeChat,
    wechat: WeChatClient,
    reply: object,
    permanent: bool,
    window_closed: bool,
) -> None:
    fake_wechat.custom_replies.append(reply)
    with pytest.raises(WeChatError) as caught:
        wechat.send_text(OPENID, "你好")
    assert caught.value.permanent is permanent
    assert caught.value.window_closed is window_closed
    assert APP_SECRET not in caught.value.reason
    assert "84_TOKEN" not in caught.value.reason


def test_a_wrong_secret_is_a_permanent_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/cgi-bin/token"
        return httpx.Response(200, json={"errcode": 40125, "errmsg": "invalid appsecret"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    wechat = WeChatClient(http, APP_ID, "wrong")
    with pytest.raises(WeChatError) as caught:
        wechat.send_text(OPENID, "你好")
    assert caught.value.errcode == 40125
    assert caught.value.permanent


def test_the_secret_and_token_stay_out_of_httpx_logs(
    fake_wechat: FakeWeChat, wechat: WeChatClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wechat.send_text(OPENID, "你好")
    assert "HTTP Request: GET https://api.weixin.qq.com/cgi-bin/token" in caplog.text
    assert "secret=***" in caplog.text and "access_token=***" in caplog.text
    assert APP_SECRET not in caplog.text
    assert "84_TOKEN" not in caplog.text
