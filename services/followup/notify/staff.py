"""Notices to the centre's staff (督办): one JSON POST per notice to a group robot's webhook.

The body is the text message of a 政务微信 / 企业微信 group robot (`{"msgtype": "text",
"text": {"content": ...}}`); a robot answers `{"errcode": 0}` when it took the message. Any
endpoint that accepts that body will do (a DingTalk robot takes the same shape).
"""

import json
import logging

import httpx

from services.followup.notify.errors import DeliveryError

log = logging.getLogger(__name__)

_TRANSIENT_4XX = frozenset({408, 425, 429})
#: A robot's "too many messages" code: passes with time.
_RATE_LIMITED = 45009


class StaffWebhookError(DeliveryError):
    """A notice the webhook did not take."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(f"staff webhook: {reason}", permanent=permanent)


class StaffWebhook:
    """Posts staff notices to the webhook URL each carries."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def send(self, *, url: str, text: str) -> None:
        """Post one notice; raises StaffWebhookError if it was not taken."""
        body = json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = self._http.post(url, content=body.encode(), headers=headers)
        except httpx.TransportError as exc:
            raise StaffWebhookError(type(exc).__name__, permanent=False) from exc
        status = response.status_code
        if not 200 <= status < 300:
            permanent = 300 <= status < 500 and status not in _TRANSIENT_4XX
            raise StaffWebhookError(f"HTTP {status}", permanent=permanent)
        try:
            code = response.json().get("errcode", 0)
        except (ValueError, AttributeError):
            code = 0  # not a robot: a 2xx is enough
        if code:
            raise StaffWebhookError(f"errcode {code}", permanent=code != _RATE_LIMITED)
        log.debug("staff notice taken by the webhook")
