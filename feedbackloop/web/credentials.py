"""Bearer credentials shared by every service: `<id>.<secret>` tokens with only a hash stored.

Each service keeps its own table of credentials (who the holder is differs: a department,
an operator, a call-centre system); what they share is how a token is read from a request
and how its secret is hashed, so a malformed header is refused the same way everywhere.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

# A token as `new_token` makes it; anything else (non-ASCII, spaces, control characters, absurd
# lengths) is refused before a store or a hash is touched.
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,64}\.[A-Za-z0-9_\-]{16,128}")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([!-~]{1,256}) *")


@dataclass(frozen=True)
class Token:
    """A presented token, split into the credential's id and its secret."""

    credential_id: str
    secret: str


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for anything else.

    Starlette decodes header bytes as Latin-1, so a header of arbitrary bytes arrives here as
    a str that may hold any code point: only printable ASCII is accepted.
    """
    if not header:
        return None
    match = _BEARER.fullmatch(header)
    return match.group(1) if match else None


def parse_token(header: str | None) -> Token | None:
    """The `<id>.<secret>` token of a Bearer header; None when it is absent or malformed."""
    token = bearer_token(header)
    return split_token(token) if token is not None else None


def split_token(token: str) -> Token | None:
    """An `<id>.<secret>` token given without a header (e.g. Open311's `api_key` field)."""
    if not _TOKEN.fullmatch(token):
        return None
    credential_id, _, secret = token.partition(".")
    return Token(credential_id=credential_id, secret=secret)


def new_token(credential_id_bytes: int = 6) -> tuple[str, str]:
    """A fresh credential id and secret (the secret is shown once and never stored)."""
    return secrets.token_hex(credential_id_bytes), secrets.token_urlsafe(24)


def new_salt() -> bytes:
    """Salt for `hash_secret`."""
    return secrets.token_bytes(16)


def hash_secret(secret: str, salt: bytes) -> bytes:
    """scrypt of a secret: slow enough that a leaked table does not give the secrets away."""
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def secret_matches(secret: str, *, salt: bytes, stored: bytes) -> bool:
    """Whether `secret` is the one whose hash is `stored`, in constant time."""
    return hmac.compare_digest(hash_secret(secret, salt), stored)
