"""SMS gateway client: one JSON POST per message, the event id as the gateway's reference."""

import json
import logging

import httpx

from services.followup.notify.errors import DeliveryError

log = logging.getLogger(__name__)

# Timeouts and rate limits are client errors in HTTP's taxonomy but pass with time;
# redirects are not followed, as a moved gateway is a configuration error.
_TRANSIENT_4XX = frozenset({408, 425, 429})


class SmsError(DeliveryError):
    """An SMS the gateway did not accept; `status_code` is None for network errors."""

    def __init__(self, status_code: int | None, reason: str, *, permanent: bool) -> None:
        super().__init__(f"sms: {reason}", permanent=permanent)
        self.status_code = status_code


class SmsGateway:
    """Sends text messages through the city's SMS gateway."""

    def __init__(self, http: httpx.Client, url: str, api_key: str) -> None:
        self._http = http
        self._url = url
        self._api_key = api_key

    def send(self, *, phone: str, text: str, reference: str) -> None:
        """Send one SMS; the gateway may use `reference` to drop a repeated request."""
        content = json.dumps(
            {"phone": phone, "text": text, "reference": reference}, ensure_ascii=False
        ).encode()
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json; charset=utf-8",
        }
        try:
            response = self._http.post(self._url, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise SmsError(None, f"{type(exc).__name__}: {exc}", permanent=False) from exc
        status = response.status_code
        if 200 <= status < 300:
            log.debug("SMS %s accepted by the gateway", reference)
            return
        # The answer body is not quoted: gateways echo the phone number, which must not be kept.
        permanent = 300 <= status < 500 and status not in _TRANSIENT_4XX
        raise SmsError(status, f"gateway answered HTTP {status}", permanent=permanent)
