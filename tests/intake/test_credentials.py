"""Call-centre and Open311 credentials: hashed at rest, checked cheaply, revoked at once."""

from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from fastapi.testclient import TestClient

from feedbackloop.web.credentials import split_token
from services.intake import credentials
from services.intake.credentials import Kind, Systems, create_credential, revoke_credential
from services.intake.database import create_store
from services.intake.limits import RateLimited
from tests.intake.test_api import make_client, outbox
from tests.intake.test_open311 import GOOD, V2, assert_georeport_errors, post


@pytest.fixture
def systems(tmp_path: Path) -> Systems:
    return Systems(sessions=create_store(f"sqlite:///{tmp_path / 'i.db'}"), per_minute={})


def add(systems: Systems, kind: Kind = Kind.HOTLINE) -> str:
    with systems._sessions.begin() as session:
        return create_credential(session=session, kind=kind, name="x", now=datetime.now(UTC))


def test_a_secret_is_hashed_once_then_compared_cheaply(systems: Systems) -> None:
    token = split_token(add(systems))
    with mock.patch.object(credentials, "secret_matches", wraps=credentials.secret_matches) as slow:
        for _ in range(5):
            assert systems.verify(token, kind=Kind.HOTLINE) is not None
    assert slow.call_count == 1


def test_wrong_secrets_are_hashed_only_a_few_times_a_minute(systems: Systems) -> None:
    real = split_token(add(systems))
    assert real is not None
    wrong = split_token(f"{real.credential_id}.{'w' * 32}")
    with mock.patch.object(credentials, "secret_matches", wraps=credentials.secret_matches) as slow:
        for _ in range(50):
            assert systems.verify(wrong, kind=Kind.HOTLINE) is None
        assert systems.verify(real, kind=Kind.HOTLINE) is None  # blocked for now, real or not
    assert slow.call_count == credentials.FAILURES_PER_MINUTE + 1


def test_the_real_secret_known_before_a_guessing_spree_still_works(systems: Systems) -> None:
    real = split_token(add(systems))
    assert real is not None and systems.verify(real, kind=Kind.HOTLINE)
    wrong = split_token(f"{real.credential_id}.{'w' * 32}")
    for _ in range(50):
        systems.verify(wrong, kind=Kind.HOTLINE)
    assert systems.verify(real, kind=Kind.HOTLINE) is not None


def test_revoked_unknown_and_other_kinds_are_refused(systems: Systems) -> None:
    token = split_token(add(systems, Kind.OPEN311))
    assert token is not None
    assert systems.verify(token, kind=Kind.HOTLINE) is None
    assert systems.verify(split_token(f"feedface0000.{token.secret}"), kind=Kind.OPEN311) is None
    assert systems.verify(None, kind=Kind.OPEN311) is None
    holder = systems.verify(token, kind=Kind.OPEN311)
    assert holder is not None
    with systems._sessions.begin() as session:
        revoke_credential(
            session=session, credential_id=holder.credential_id, now=datetime.now(UTC)
        )
    assert systems.verify(token, kind=Kind.OPEN311) is None


def test_each_system_has_its_own_per_minute_limit(tmp_path: Path) -> None:
    systems = Systems(
        sessions=create_store(f"sqlite:///{tmp_path / 'i.db'}"), per_minute={Kind.HOTLINE: 3}
    )
    one, two = (systems.verify(split_token(add(systems)), kind=Kind.HOTLINE) for _ in range(2))
    assert one is not None and two is not None
    systems.admit(one)
    systems.record(one, 2)
    with pytest.raises(RateLimited):
        systems.admit(one)
    systems.admit(two)


def open311_key(client: TestClient) -> str:
    with client.app.state.intake.sessions.begin() as session:  # type: ignore[attr-defined]
        return create_credential(
            session=session, kind=Kind.OPEN311, name="市民通", now=datetime.now(UTC)
        )


def test_an_open311_key_made_by_the_cli_is_honoured_and_limited(tmp_path: Path) -> None:
    client = make_client(tmp_path, open311_requests_per_minute=2, rate_limit_per_minute=100)
    key = open311_key(client)
    assert post(client, api_key=key).status_code == 201
    assert post(client, api_key=key).status_code == 201
    reply = post(client, api_key=key)
    [description] = assert_georeport_errors(reply, 429)
    assert int(reply.headers["retry-after"]) >= 1 and "请" in description
    assert post(client, api_key=open311_key(client)).status_code == 201  # another app


def test_an_idempotency_key_is_per_app(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=100)
    mine, theirs = open311_key(client), open311_key(client)
    first = client.post(
        f"{V2}/requests.json",
        data=dict(_form(mine)),
        headers={"Idempotency-Key": "req-1"},
    )
    other = client.post(
        f"{V2}/requests.json", data=dict(_form(theirs)), headers={"Idempotency-Key": "req-1"}
    )
    assert (first.status_code, other.status_code) == (201, 201)
    assert first.json()[0]["service_request_id"] != other.json()[0]["service_request_id"]


def test_the_dev_key_is_refused_in_production(tmp_path: Path) -> None:
    client = make_client(
        tmp_path,
        environment="production",
        contact_key="cHJvZHVjdGlvbi1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        wechat_token="production-token",
        status_link_key="production-status-link-key",
    )
    assert_georeport_errors(post(client), 403)
    assert post(client, api_key=open311_key(client)).status_code == 201
    assert len(outbox(client)) == 1


def _form(key: str) -> dict[str, str]:
    return dict(GOOD, api_key=key)
