"""Bearer tokens are read the same way by every service: only well-formed ASCII tokens pass."""

from hypothesis import given
from hypothesis import strategies as st

from feedbackloop.web.credentials import (
    bearer_token,
    hash_secret,
    new_salt,
    new_token,
    parse_token,
    secret_matches,
)


def test_a_token_made_here_is_read_back() -> None:
    credential_id, secret = new_token()
    token = parse_token(f"Bearer {credential_id}.{secret}")
    assert token is not None
    assert (token.credential_id, token.secret) == (credential_id, secret)
    assert parse_token(f"bearer   {credential_id}.{secret}") == token


def test_malformed_headers_are_refused() -> None:
    for header in [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer \xff",
        "Bearer abc\x00def",
        "Bearer " + "a" * 300,
        "Bearer abc.short",
        "Bearer abc.def ghi",
        "Bearer 文字.文字文字文字文字文字文字文字文字",
    ]:
        assert parse_token(header) is None, header


@given(st.text())
def test_any_header_is_a_token_or_none_never_an_error(header: str) -> None:
    token = bearer_token(header)
    assert token is None or (token.isascii() and token.isprintable() and " " not in token)


def test_only_the_right_secret_matches_its_hash() -> None:
    salt = new_salt()
    stored = hash_secret("correct horse battery staple", salt)
    assert secret_matches("correct horse battery staple", salt=salt, stored=stored)
    assert not secret_matches("correct horse battery stapler", salt=salt, stored=stored)
