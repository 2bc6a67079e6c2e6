"""WeChat callback security: signatures, freshness, and AES safe mode, with wechatpy's crypto."""

import hashlib
import hmac
import time

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from services.intake.wechat_xml import MalformedMessage

#: WeChat's own servers are NTP-synchronised; a larger skew means a replayed or forged request.
MAX_CLOCK_SKEW_SECONDS = 300


class Rejected(Exception):
    """The request cannot be shown to come from WeChat: bad signature, stale or no timestamp."""


def check_fresh(timestamp: str | None, *, now: float | None = None) -> None:
    """Refuse a missing timestamp or one more than five minutes away from now."""
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Rejected("missing or malformed timestamp")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise Rejected("timestamp too far from now")


def check_request(
    *,
    token: str,
    signature: str | None,
    timestamp: str | None,
    nonce: str | None,
    now: float | None = None,
) -> None:
    """Verify the `signature` WeChat puts on every callback (token, timestamp, nonce)."""
    check_fresh(timestamp, now=now)
    if not signature or nonce is None:
        raise Rejected("missing signature or nonce")
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException as exc:
        raise Rejected("bad signature") from exc


class SafeMode:
    """AES safe mode of one official account: decrypts requests and encrypts replies."""

    def __init__(self, *, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._crypto = _ReplayableCrypto(token, encoding_aes_key, app_id)

    def decrypt(
        self,
        *,
        encrypted: str,
        msg_signature: str | None,
        timestamp: str | None,
        nonce: str | None,
    ) -> bytes:
        """The inner XML of an encrypted message, after checking `msg_signature`."""
        if not msg_signature or nonce is None:
            raise Rejected("missing msg_signature or nonce")
        try:
            # A dict, so wechatpy does not parse the outer XML again with a non-hardened parser.
            plain = self._crypto.decrypt_message(
                {"Encrypt": encrypted}, msg_signature, timestamp, nonce
            )
        except InvalidSignatureException as exc:
            raise Rejected("bad msg_signature") from exc
        except InvalidAppIdException as exc:
            raise Rejected("message for another official account") from exc
        except Exception as exc:
            # Signed but undecryptable (bad base64, padding, length or UTF-8) fails in many
            # library-specific ways; all of them mean a malformed message, never a 5xx.
            raise MalformedMessage("加密消息无法解密") from exc
        return str(plain).encode()

    def encrypt(self, xml: str, *, seed: str, timestamp: int) -> str:
        """The encrypted reply envelope; the same seed and reply give the same bytes."""
        return self._crypto.encrypt_replayable(xml, seed=seed, timestamp=timestamp)


class _ReplayableCrypto(WeChatCrypto):
    """wechatpy's WeChatCrypto with the random prefix derived from the message instead.

    WeChat retries an unanswered message up to three times and each retry must get the
    byte-identical answer. The scheme's IV is fixed by the key, so the 16-byte prefix is the
    only randomness; deriving it from the message and the reply (keyed, like SIV) leaks only
    that two replies are equal, which a retry is meant to show anyway.
    """

    def encrypt_replayable(self, xml: str, *, seed: str, timestamp: int) -> str:
        digest = hmac.new(
            self.key, b"feedbackloop wechat reply\0" + f"{seed}\0{xml}".encode(), hashlib.sha256
        ).hexdigest()
        prefix, nonce = digest[:16], digest[16:32]
        seeded = type("_SeededPrpCrypto", (PrpCrypto,), {"get_random_string": lambda _: prefix})
        return str(self._encrypt_message(xml, nonce, str(timestamp), seeded))
