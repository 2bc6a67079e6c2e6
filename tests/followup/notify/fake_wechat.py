"""A stand-in for api.weixin.qq.com behind httpx.MockTransport, checking every request's shape."""

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

APP_ID = "wx1b5598f0453d8fec"
APP_SECRET = "ed222a84da15cd24c4bdfa5d9adbabf2"
OK = {"errcode": 0, "errmsg": "ok"}
BUSY = {"errcode": -1, "errmsg": "system error rid: 6605371b-5a876f33-10f578dd"}
STALE_TOKEN = {
    "errcode": 40001,
    "errmsg": "invalid credential, access_token is invalid or not latest rid: 61b9a101-618a7ae9",
}
WINDOW_CLOSED = {
    "errcode": 45015,
    "errmsg": "response out of time limit or subscription is canceled rid: 5f3ded7d-22929d02",
}
UNSUBSCRIBED = {"errcode": 43004, "errmsg": "require subscribe rid: 629742b5-2ccb1813"}


@dataclass
class FakeWeChat:
    """Issues tokens and answers message calls from queues; records what it was sent."""

    expires_in: int = 7200
    #: Answers to /cgi-bin/message/custom/send, in order; OK when empty.
    custom_replies: deque[Any] = field(default_factory=deque)
    #: Answers to /cgi-bin/message/template/send, in order; a msgid when empty.
    template_replies: deque[Any] = field(default_factory=deque)
    tokens_issued: int = 0
    custom_sent: list[dict[str, Any]] = field(default_factory=list)
    templates_sent: list[dict[str, Any]] = field(default_factory=list)
    tokens_used: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """An httpx client whose requests this fake answers."""
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as WeChat would, after asserting its shape."""
        assert request.url.scheme == "https"
        assert request.url.host == "api.weixin.qq.com"
        path = request.url.path
        if path == "/cgi-bin/token":
            assert request.method == "GET"
            assert dict(request.url.params) == {
                "grant_type": "client_credential",
                "appid": APP_ID,
                "secret": APP_SECRET,
            }
            self.tokens_issued += 1
            token = f"84_TOKEN_{self.tokens_issued}"
            return httpx.Response(200, json={"access_token": token, "expires_in": self.expires_in})
        assert request.method == "POST"
        assert request.headers["content-type"].startswith("application/json")
        assert list(request.url.params) == ["access_token"]
        token = request.url.params["access_token"]
        self.tokens_used.append(token)
        # The raw bytes are checked too: Chinese must travel as UTF-8, not \\u escapes.
        assert b"\\u" not in request.content
        body = json.loads(request.content)
        if token != f"84_TOKEN_{self.tokens_issued}":
            return httpx.Response(200, json=STALE_TOKEN)
        if path == "/cgi-bin/message/custom/send":
            assert set(body) == {"touser", "msgtype", "text"}
            assert body["msgtype"] == "text"
            assert set(body["text"]) == {"content"}
            reply = self.custom_replies.popleft() if self.custom_replies else OK
            if isinstance(reply, dict) and reply.get("errcode") == 0:
                self.custom_sent.append(body)
            return _answer(reply)
        if path == "/cgi-bin/message/template/send":
            assert (
                {"touser", "template_id", "data"}
                <= set(body)
                <= {
                    "touser",
                    "template_id",
                    "data",
                    "url",
                }
            )
            assert all(set(item) == {"value"} for item in body["data"].values())
            reply = (
                self.template_replies.popleft()
                if self.template_replies
                else {**OK, "msgid": 200228332}
            )
            if isinstance(reply, dict) and reply.get("errcode") == 0:
                self.templates_sent.append(body)
            return _answer(reply)
        return httpx.Response(404, text="not found")


def _answer(reply: Any) -> httpx.Response:
    if isinstance(reply, httpx.Response):
        return reply
    if isinstance(reply, Exception):
        raise reply
    return httpx.Response(200, json=reply)
