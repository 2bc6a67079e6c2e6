"""The status link's secret: made by intake, checked by followup, unguessable without the key."""

import base64
import hashlib
import hmac

import pytest
from pydantic import ValidationError

from feedbackloop.web.status_links import secret_matches, status_secret, status_url
from services.followup.config import Settings as FollowupSettings
from services.intake.config import Settings as IntakeSettings

KEY = "a-status-link-key-for-tests"
NO = "2611221000014"


def test_the_secret_is_a_keyed_mac_of_the_ticket_number() -> None:
    secret = status_secret(key=KEY, ticket_no=NO)
    assert len(secret) == 22 and secret == status_secret(key=KEY, ticket_no=NO)
    assert secret != status_secret(key=KEY, ticket_no="2611221000025")
    assert secret != status_secret(key="another-status-link-key", ticket_no=NO)


def test_only_the_tickets_own_secret_matches() -> None:
    secret = status_secret(key=KEY, ticket_no=NO)
    assert secret_matches(key=KEY, ticket_no=NO, secret=secret)
    for wrong in (None, "", secret[:-1], secret + "A", "é" * 22, "A" * 10_000):
        assert not secret_matches(key=KEY, ticket_no=NO, secret=wrong)
    assert not secret_matches(key=KEY, ticket_no="2611221000025", secret=secret)


def test_the_link_gets_the_secret_whether_or_not_the_template_names_it() -> None:
    secret = status_secret(key=KEY, ticket_no=NO)
    plain = status_url(template="https://12345.example.gov.cn/t/{ticket_no}", key=KEY, ticket_no=NO)
    assert plain == f"https://12345.example.gov.cn/t/{NO}?k={secret}"
    query = status_url(template="https://x.cn/status?no={ticket_no}", key=KEY, ticket_no=NO)
    assert query == f"https://x.cn/status?no={NO}&k={secret}"
    named = status_url(template="https://x.cn/t/{ticket_no}/{secret}", key=KEY, ticket_no=NO)
    assert named == f"https://x.cn/t/{NO}/{secret}"


def test_both_services_refuse_the_development_key_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FEEDBACKLOOP_STATUS_LINK_KEY", "FEEDBACKLOOP_ENV"):
        monkeypatch.delenv(name, raising=False)
    others = {
        "contact_key": "cHJvZHVjdGlvbi1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        "environment": "production",
    }
    intake = {"wechat_token": "production-token", **others}
    followup = {"survey_secret": "s" * 32, "session_secret": "t" * 32, **others}
    for settings, values in ((IntakeSettings, intake), (FollowupSettings, followup)):
        with pytest.raises(ValidationError, match=r"(?i)status_link_key"):
            settings(**values)
        monkeypatch.setenv("FEEDBACKLOOP_STATUS_LINK_KEY", "a-production-status-link-key")
        assert settings(**values).status_link_key == "a-production-status-link-key"
        monkeypatch.delenv("FEEDBACKLOOP_STATUS_LINK_KEY")


def test_links_given_out_before_itsdangerous_still_open_the_whole_ticket() -> None:
    # The secret as it was computed by hand: HMAC-SHA256 of context + number, first 16 bytes.
    digest = hmac.new(KEY.encode(), b"feedbackloop/status-link/v1:" + NO.encode(), hashlib.sha256)
    old = base64.urlsafe_b64encode(digest.digest()[:16]).decode().rstrip("=")
    assert status_secret(key=KEY, ticket_no=NO) == old
    assert secret_matches(key=KEY, ticket_no=NO, secret=old)
    assert not secret_matches(key=KEY, ticket_no=NO, secret=old + "密")
