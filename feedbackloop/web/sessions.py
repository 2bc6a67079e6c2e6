"""Signed session cookies and CSRF tokens for the consoles' HTML forms.

The cookie holds a small JSON document (a random nonce, who signed in, an expiry) and an
HMAC-SHA256 of it: it cannot be forged or altered without the service's secret, and it is
HttpOnly and SameSite=Strict, so scripts cannot read it and other sites' pages do not send it.
Every POST form also carries a CSRF token, the HMAC of the session's nonce, which a page on
another origin cannot know. A visitor who has not signed in gets an anonymous session, so the
sign-in form is protected the same way; signing in issues a new nonce (no session fixation).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

#: A working day and a bit: a clerk signs in once a day.
DEFAULT_MAX_AGE = 12 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class WebSession:
    """One browser's session: a nonce, who signed in (if anyone), and when it expires."""

    nonce: str
    user: dict[str, Any] | None = None
    expires: int = 0
    #: Not yet in the browser's cookie: the response must set it.
    changed: bool = field(default=False, compare=False)


class SessionCookies:
    """Reads, writes and checks one service's session cookie."""

    def __init__(
        self, *, secret: str | bytes, cookie_name: str, max_age: int = DEFAULT_MAX_AGE
    ) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        # Derived keys: the secret itself signs nothing, and sessions and CSRF tokens differ.
        self._session_key = hmac.new(raw, b"feedbackloop-session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(raw, b"feedbackloop-csrf", hashlib.sha256).digest()
        self.cookie_name = cookie_name
        self.max_age = max_age

    def _sign(self, body: bytes) -> str:
        return _b64(hmac.new(self._session_key, body, hashlib.sha256).digest())

    def _new(self, user: dict[str, Any] | None = None) -> WebSession:
        return WebSession(
            nonce=secrets.token_urlsafe(18),
            user=user,
            expires=int(time.time()) + self.max_age,
            changed=True,
        )

    def read(self, request: Request) -> WebSession:
        """The request's session, or a new anonymous one if it has none that is valid."""
        value = request.cookies.get(self.cookie_name, "")
        body_text, _, signature = value.partition(".")
        if not body_text or len(value) > 4000:
            return self._new()
        try:
            body = _unb64(body_text)
            valid = hmac.compare_digest(self._sign(body), signature)
            data = json.loads(body) if valid else None
            expires = int(data["e"]) if isinstance(data, dict) else 0
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            data, expires = None, 0
        if not isinstance(data, dict) or expires < time.time():
            return self._new()
        user = data.get("u")
        return WebSession(
            nonce=str(data.get("n", "")),
            user=user if isinstance(user, dict) else None,
            expires=expires,
        )

    def sign_in(self, user: dict[str, Any]) -> WebSession:
        """A fresh session (new nonce) for someone who just proved who they are."""
        return self._new(user)

    def sign_out(self) -> WebSession:
        """A fresh anonymous session."""
        return self._new()

    def write(self, response: Response, session: WebSession, *, secure: bool) -> None:
        """Set the session cookie on a response (only when it changed)."""
        if not session.changed:
            return
        body = json.dumps(
            {"n": session.nonce, "u": session.user, "e": session.expires},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        response.set_cookie(
            self.cookie_name,
            f"{_b64(body)}.{self._sign(body)}",
            max_age=self.max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )

    def csrf_token(self, session: WebSession) -> str:
        """The token the session's forms carry."""
        return _b64(hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).digest())

    def csrf_ok(self, session: WebSession, token: str) -> bool:
        """Whether a submitted form's token belongs to this session."""
        if not token or session.changed:  # a brand-new session has never shown a form
            return False
        # As bytes: compare_digest raises on non-ASCII text, and a form field may hold any.
        return hmac.compare_digest(self.csrf_token(session).encode(), token.encode())


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (then the cookie is marked Secure)."""
    return request.url.scheme == "https"
