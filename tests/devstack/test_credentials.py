"""The local stack's simulated call centre: one credential, kept while it is valid."""

from datetime import UTC, datetime
from pathlib import Path

from feedbackloop.devstack.credentials import (
    TOKEN_FILE,
    recorded_hotline_token,
    stack_hotline_token,
)
from services.intake.credentials import revoke_credential
from services.intake.database import create_store


def test_the_stack_keeps_its_call_centre_token_until_it_is_revoked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    assert recorded_hotline_token(tmp_path) is None
    token = stack_hotline_token(state_dir=tmp_path, database_url=url)
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    assert stack_hotline_token(state_dir=tmp_path, database_url=url) == token
    assert recorded_hotline_token(tmp_path) == token
    with create_store(url).begin() as session:
        revoke_credential(session=session, credential_id=token.split(".")[0], now=datetime.now(UTC))
    renewed = stack_hotline_token(state_dir=tmp_path, database_url=url)
    assert renewed != token and recorded_hotline_token(tmp_path) == renewed
