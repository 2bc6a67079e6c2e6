"""Signed session cookies and CSRF tokens for the consoles' HTML forms.

The cookie holds a small JSON document (a random nonce, who signed in) signed with its time
by itsdangerous (HMAC-SHA256 under a key derived from the service's secret): it cannot be
forged, altered or used past its age, and it is HttpOnly and SameSite=Strict, so scripts
cannot read it and other sites' pages do not send it. Every POST form also carries a CSRF
token, the signature of the session's nonce under another derived key, which a page on
another origin cannot know. A visitor who has not signed in gets an anonymous session, so the
sign-in form is protected the same way; signing in issues a new nonce (no session fixation).
"""

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

#: A working day and a bit: a clerk signs in once a day.
DEFAULT_MAX_AGE = 12 * 3600


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
        # Keys derived from the secret by HMAC-SHA256 (itsdangerous' default is SHA-1 by
        # concatenation), one per purpose: the secret itself signs nothing, and sessions and
        # CSRF tokens differ.
        self._cookies = URLSafeTimedSerializer(
            secret,
            salt=b"feedbackloop-session",
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
        )
        self._csrf = Signer(
            secret, salt=b"feedbackloop-csrf", key_derivation="hmac", digest_method=hashlib.sha256
        )
        self.cookie_name = cookie_name
        self.max_age = max_age

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
        # itsdangerous skips non-ASCII characters in a signature: refused before it looks.
        if not value or len(value) > 4000 or not value.isascii():
            return self._new()
        try:
            # Forged, altered, older than max_age or not a document: all BadSignature.
            data, signed_at = self._cookies.loads(
                value, max_age=self.max_age, return_timestamp=True
            )
        except BadSignature:
            return self._new()
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            return self._new()
        user = data.get("u")
        return WebSession(
            nonce=data["n"],
            user=user if isinstance(user, dict) else None,
            expires=int(signed_at.timestamp()) + self.max_age,
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
        response.set_cookie(
            self.cookie_name,
            self._cookies.dumps({"n": session.nonce, "u": session.user}),
            max_age=self.max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )

    def csrf_token(self, session: WebSession) -> str:
        """The token the session's forms carry."""
        return self._csrf.get_signature(session.nonce).decode()

    def csrf_ok(self, session: WebSession, token: str) -> bool:
        """Whether a submitted form's token belongs to this session."""
        if not token or session.changed:  # a brand-new session has never shown a form
            return False
        # itsdangerous skips non-ASCII characters in a signature: a token with any is not it.
        return token.isascii() and self._csrf.verify_signature(session.nonce, token)


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (then the cookie is marked Secure)."""
    return request.url.scheme == "https"
