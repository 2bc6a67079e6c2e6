"""Survey link tokens signed by itsdangerous are the tokens links already sent carry."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.followup.models import Survey
from services.followup.surveys import SurveyLinkError, create_token, read_token

SECRET = "a-survey-secret-of-some-length"
EXPIRES = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _survey() -> Survey:
    return Survey(id="0b9c1f3e-3f0e-4c9a-9d55-6c1e2b7a8f10", expires_at=EXPIRES)


def _old_token(secret: str, survey: Survey) -> str:
    # How links were signed by hand before itsdangerous.
    payload = f"{survey.id}.{int(survey.expires_at.timestamp())}"
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(digest[:18]).decode().rstrip('=')}"


def test_a_token_is_the_one_a_link_sent_before_carries() -> None:
    survey = _survey()
    token = create_token(secret=SECRET, survey=survey)
    assert token == _old_token(SECRET, survey)
    assert len(token.rsplit(".", 1)[1]) == 24
    before = EXPIRES - timedelta(days=1)
    assert read_token(secret=SECRET, token=_old_token(SECRET, survey), now=before) == survey.id


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("xx" if not t.endswith("xx") else "yy"),  # signature altered
        lambda t: t.replace(str(int(EXPIRES.timestamp())), str(int(EXPIRES.timestamp()) + 1)),
        lambda t: t.rsplit(".", 1)[0],  # no signature
        lambda t: t + "回访",  # not ASCII
        lambda t: t.replace(".", "．", 1),  # a full-width dot
        lambda t: create_token(secret="another-secret-entirely", survey=_survey()),
    ],
)
def test_a_forged_or_malformed_token_is_a_404(change: object) -> None:
    token = change(create_token(secret=SECRET, survey=_survey()))  # type: ignore[operator]
    with pytest.raises(SurveyLinkError) as refused:
        read_token(secret=SECRET, token=token, now=EXPIRES - timedelta(hours=1))
    assert refused.value.status == 404


def test_a_token_past_the_surveys_expiry_is_a_410() -> None:
    token = create_token(secret=SECRET, survey=_survey())
    assert read_token(secret=SECRET, token=token, now=EXPIRES) == _survey().id
    with pytest.raises(SurveyLinkError) as expired:
        read_token(secret=SECRET, token=token, now=EXPIRES + timedelta(seconds=1))
    assert expired.value.status == 410
