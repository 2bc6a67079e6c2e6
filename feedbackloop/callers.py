"""Who called, without saying who: a keyed hash of the caller's WeChat openid or phone number.

Intake names the caller of every item this way (`Contact.caller_key`) so that followup can
tell a repeat caller (重复来电) from a new one without holding the phone number, which it is
given only with callback consent. The hash is an HMAC-SHA256 under the contact key: a phone
number's few digits cannot be guessed back from it without that key.
"""

import hashlib
import hmac
import re

__all__ = ["caller_key"]

_NOT_DIGITS = re.compile(r"\D")


def _phone(number: str) -> str:
    digits = _NOT_DIGITS.sub("", number)
    # +86 139... and 139... are one caller.
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def caller_key(
    *, contact_key: str, openid: str | None = None, phone: str | None = None
) -> str | None:
    """The caller's key (the openid if there is one, else the phone number); None if neither."""
    if openid:
        who = f"wechat:{openid}"
    elif phone and _phone(phone):
        who = f"phone:{_phone(phone)}"
    else:
        return None
    return hmac.new(contact_key.encode(), who.encode(), hashlib.sha256).hexdigest()
