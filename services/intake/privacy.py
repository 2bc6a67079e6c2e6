"""Personal data: masking numbers in free text, and encrypting the contact kept for callbacks.

Downstream services and departments see the citizen's words with mainland phone numbers,
resident ID numbers (checksum-validated) and bank card numbers (Luhn-validated) masked.
The phone number needed for the callback is stored only here, encrypted with a key from
settings, and is never logged.
"""

import re

from cryptography.fernet import Fernet, InvalidToken
from stdnum import luhn
from stdnum.cn import ric

from feedbackloop import callers

# Digit runs are matched with look-arounds so a number inside a longer number never matches.
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")
_MOBILE = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}[ -]?\d{7,8}(?!\d)")
#: Seven digits with at most one blank or hyphen between two: every number above holds such
#: a run, so a text without one is left as it is after one scan instead of four.
_CANDIDATE = re.compile(r"\d(?:[ -]?\d){6}")


def _mask_id(match: re.Match[str]) -> str:
    value = match.group(0)
    if not ric.is_valid(value):
        return value
    return value[:4] + "*" * 10 + value[-4:]


def _mask_card(match: re.Match[str]) -> str:
    value = match.group(0)
    digits = re.sub(r"\D", "", value)
    if not (16 <= len(digits) <= 19 and luhn.is_valid(digits)):
        return value
    return digits[:4] + " **** **** " + digits[-4:]


def _mask_mobile(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))[-11:]
    return digits[:3] + "****" + digits[-4:]


def _mask_landline(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_personal_numbers(text: str) -> str:
    """Mask phone, resident ID and bank card numbers found in free text."""
    if _CANDIDATE.search(text) is None:
        return text
    text = _RESIDENT_ID.sub(_mask_id, text)
    text = _BANK_CARD.sub(_mask_card, text)
    text = _MOBILE.sub(_mask_mobile, text)
    return _LANDLINE.sub(_mask_landline, text)


class ContactCipher:
    """Encrypts and decrypts stored contact details (Fernet: AES-128-CBC with HMAC)."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._fernet = Fernet(key.encode())

    def caller_key(self, *, openid: str | None, phone: str | None) -> str | None:
        """The keyed hash naming the caller (see `feedbackloop.callers`)."""
        return callers.caller_key(contact_key=self._key, openid=openid, phone=phone)

    def encrypt(self, value: str) -> str:
        """Ciphertext of a contact detail."""
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The contact detail behind a ciphertext; ValueError if the key does not match."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("contact ciphertext does not match the configured key") from exc
