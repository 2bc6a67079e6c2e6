"""Signed session cookies and CSRF tokens (itsdangerous underneath)."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import time_machine
from starlette.requests import Request
from starlette.responses import Response

from feedbackloop.web.sessions import SessionCookies

SECRET = "a-session-secret-of-some-length"


def _cookies(max_age: int = 3600) -> SessionCookies:
    return SessionCookies(secret=SECRET, cookie_name="fl_session", max_age=max_age)


def _cookie_of(cookies: SessionCookies, user: dict[str, str] | None) -> str:
    response = Response()
    cookies.write(response, cookies.sign_in(user) if user else cookies.sign_out(), secure=False)
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=strict" in header.lower()
    return header.split(";", 1)[0].split("=", 1)[1]


def _request(value: str) -> Request:
    cookie = f"fl_session={value}".encode()
    return Request({"type": "http", "headers": [(b"cookie", cookie)], "method": "GET"})


def test_a_signed_in_session_comes_back_from_its_cookie() -> None:
    cookies = _cookies()
    value = _cookie_of(cookies, {"name": "话务员小李", "role": "operator"})
    session = cookies.read(_request(value))
    assert session.user == {"name": "话务员小李", "role": "operator"}
    assert not session.changed
    assert cookies.read(_request(value)).nonce == session.nonce


def test_an_altered_or_foreign_cookie_gives_a_new_anonymous_session() -> None:
    cookies = _cookies()
    value = _cookie_of(cookies, {"name": "督办科老王", "role": "supervisor"})
    payload, rest = value.split(".", 1)
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest
    other = SessionCookies(secret="another-secret-entirely", cookie_name="fl_session")
    foreign = _cookie_of(other, {"n": "x"})
    for bad in [forged, value[:-3], value + "é", "x" * 5000, "", "not.a.cookie", foreign]:
        session = cookies.read(_request(bad))
        assert session.user is None and session.changed, bad


def test_a_cookie_past_its_age_is_refused() -> None:
    cookies = _cookies(max_age=600)
    start = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        value = _cookie_of(cookies, {"name": "市水务局", "role": "department"})
        assert cookies.read(_request(value)).expires == int(start.timestamp()) + 600
    with time_machine.travel(start + timedelta(seconds=599), tick=False):
        assert cookies.read(_request(value)).user is not None
    with time_machine.travel(start + timedelta(seconds=602), tick=False):
        assert cookies.read(_request(value)).user is None


def test_csrf_tokens_belong_to_one_session() -> None:
    cookies = _cookies()
    mine = cookies.read(_request(_cookie_of(cookies, None)))
    theirs = cookies.read(_request(_cookie_of(cookies, None)))
    token = cookies.csrf_token(mine)
    assert cookies.csrf_ok(mine, token)
    assert not cookies.csrf_ok(theirs, token)
    for bad in ["", "令牌", token + "令牌", token[:-1], token + "A", "!!!"]:
        assert not cookies.csrf_ok(mine, bad), bad
    # A session the browser does not have yet has never shown a form.
    assert not cookies.csrf_ok(cookies.sign_out(), token)


def test_csrf_tokens_are_those_pages_already_carry() -> None:
    # HMAC-SHA256 of the nonce under HMAC(secret, "feedbackloop-csrf"), as before itsdangerous:
    # a form rendered before an upgrade still posts.
    cookies = _cookies()
    session = cookies.read(_request(_cookie_of(cookies, None)))
    key = hmac.new(SECRET.encode(), b"feedbackloop-csrf", hashlib.sha256).digest()
    digest = hmac.new(key, session.nonce.encode(), hashlib.sha256).digest()
    assert cookies.csrf_token(session) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
