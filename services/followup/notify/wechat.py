"""WeChat official account client: a cached access token, customer-service and template messages.

API reference: https://developers.weixin.qq.com/doc/offiaccount (获取Access token, 客服消息,
模板消息, 全局返回码). WeChat answers HTTP 200 with an `errcode` in the JSON body for API errors.
"""

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from services.followup.notify.errors import DeliveryError

log = logging.getLogger(__name__)

#: The token was refreshed elsewhere (40001), is malformed (40014) or expired (42001).
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: The 48-hour customer-service window is closed (45015) or its message quota used (45047);
#: a template message may still reach the citizen.
WINDOW_CLOSED = frozenset({45015, 45047})
#: System busy, and the daily and per-minute API quotas: worth trying again later.
TRANSIENT_ERRORS = frozenset({-1, 45009, 45011})
#: The citizen unfollowed (43004) or refused messages (43101).
UNSUBSCRIBED = frozenset({43004, 43101})

# WeChat keeps an old token valid for 5 minutes after a refresh; refreshing that early means
# a token handed out is never one that expires mid-request.
REFRESH_MARGIN = 300.0


_SECRET_PARAM = re.compile(r"\b(secret|access_token)=[^&\s\"']+")


class _RedactSecrets(logging.Filter):
    """Hides the app secret and access token in the request URLs httpx logs at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with the secrets masked; never drop it."""
        message = record.getMessage()
        if "secret=" in message or "access_token=" in message:
            record.msg, record.args = _SECRET_PARAM.sub(r"\1=***", message), None
        return True


_REDACT_SECRETS = _RedactSecrets()


class WeChatError(DeliveryError):
    """A WeChat call that failed: an API error code, or None for network and HTTP errors."""

    def __init__(self, errcode: int | None, errmsg: str, *, permanent: bool) -> None:
        label = f"wechat {errcode}" if errcode is not None else "wechat"
        super().__init__(f"{label}: {errmsg}"[:500], permanent=permanent)
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def window_closed(self) -> bool:
        """Whether a template message may succeed where a customer-service message failed."""
        return self.errcode in WINDOW_CLOSED

    @property
    def unsubscribed(self) -> bool:
        """Whether the citizen no longer receives this account's messages."""
        return self.errcode in UNSUBSCRIBED


def _api_error(errcode: int, errmsg: str) -> WeChatError:
    # Unknown codes are permanent: they mean a bad request, which the same request repeats.
    transient = errcode in TRANSIENT_ERRORS or errcode in TOKEN_ERRORS
    return WeChatError(errcode, errmsg, permanent=not transient)


class WeChatClient:
    """Sends messages as a WeChat official account (公众号)."""

    def __init__(
        self,
        http: httpx.Client,
        app_id: str,
        app_secret: str,
        base_url: str = "https://api.weixin.qq.com",
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._app_id = app_id
        self._app_secret = app_secret
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        # WeChat takes both secrets in the query string, which httpx logs with the URL.
        logging.getLogger("httpx").addFilter(_REDACT_SECRETS)

    def access_token(self) -> str:
        """The cached access token, fetched anew when missing or near its expiry."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def send_text(self, openid: str, text: str) -> None:
        """Send a customer-service text message (客服消息); needs the 48-hour window open."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        self._post("/cgi-bin/message/custom/send", body)

    def send_template(
        self, openid: str, template_id: str, url: str | None, data: Mapping[str, str]
    ) -> int | None:
        """Send a template message (模板消息) and return WeChat's msgid."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        reply = self._post("/cgi-bin/message/template/send", body)
        msgid = reply.get("msgid")
        return msgid if isinstance(msgid, int) else None

    def _fetch_token(self) -> None:
        params = {
            "grant_type": "client_credential",
            "appid": self._app_id,
            "secret": self._app_secret,
        }
        reply = self._request("GET", "/cgi-bin/token", params=params)
        errcode = reply.get("errcode", 0)
        if errcode:
            # A wrong secret or an unlisted server IP will not fix itself by retrying.
            errmsg = str(reply.get("errmsg", ""))
            raise WeChatError(errcode, errmsg, permanent=errcode not in TRANSIENT_ERRORS)
        token, expires_in = reply.get("access_token"), reply.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise WeChatError(None, "token answer without access_token", permanent=False)
        self._token = token
        self._refresh_at = self._clock() + max(expires_in - REFRESH_MARGIN, 0)
        log.info("fetched a WeChat access token valid for %d s", expires_in)

    def _invalidate(self, token: str) -> None:
        with self._lock:
            # Another thread may have refreshed already; its token is fine.
            if self._token == token:
                self._token = None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for retry in (False, True):
            token = self.access_token()
            reply = self._request("POST", path, params={"access_token": token}, body=body)
            errcode = reply.get("errcode", 0)
            if errcode in TOKEN_ERRORS and not retry:
                log.warning("WeChat rejected the access token (%s); refreshing it", errcode)
                self._invalidate(token)
                continue
            if errcode:
                raise _api_error(errcode, str(reply.get("errmsg", "")))
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        # Spelled out rather than json=: older httpx escapes Chinese as \uXXXX, and messages
        # are Chinese text; errors never quote the URL, which carries the secret or token.
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if content else None
        try:
            response = self._http.request(
                method, self._base_url + path, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise WeChatError(None, f"{type(exc).__name__}: {exc}", permanent=False) from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise WeChatError(None, f"HTTP {response.status_code}", permanent=False)
        if response.status_code >= 400:
            raise WeChatError(None, f"HTTP {response.status_code}", permanent=True)
        try:
            reply = response.json()
        except ValueError as exc:
            raise WeChatError(None, "answer is not JSON", permanent=False) from exc
        if not isinstance(reply, dict):
            raise WeChatError(None, "answer is not a JSON object", permanent=False)
        return reply
