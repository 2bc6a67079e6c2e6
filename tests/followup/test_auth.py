"""Workbench credentials use the shared hashing: tokens issued before stay valid, and a
malformed token is refused before the store is asked."""

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from services.followup import auth
from services.followup.auth import Role
from services.followup.database import open_store
from services.followup.models import Credential


def store(tmp_path: Path) -> sessionmaker[Session]:
    return open_store(f"sqlite:///{tmp_path / 'followup.db'}")


def test_a_token_hashed_by_the_former_code_still_signs_in(tmp_path: Path) -> None:
    sessions = store(tmp_path)
    secret, salt = secrets.token_urlsafe(24), secrets.token_bytes(16)
    # What followup's auth module stored before it used feedbackloop.web.credentials.
    former = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    with sessions.begin() as session:
        session.add(
            Credential(
                id="a1b2c3d4e5f6",
                name="市水务局",
                role="department",
                department_code="water",
                secret_hash=former,
                salt=salt,
                created_at=datetime.now(UTC),
            )
        )
    with sessions() as session:
        found = auth.get_principal(session=session, token=f"a1b2c3d4e5f6.{secret}")
        assert found is not None and found.department_code == "water"
        assert auth.get_principal(session=session, token=f"a1b2c3d4e5f6.{secret}x") is None


def test_a_new_token_signs_in_and_malformed_ones_do_not(tmp_path: Path) -> None:
    sessions = store(tmp_path)
    with sessions.begin() as session:
        token = auth.create_credential(
            session=session,
            name="话务员",
            role=Role.OPERATOR,
            department_code=None,
            now=datetime.now(UTC),
        )
    credential_id, _, secret = token.partition(".")
    with sessions() as session:
        assert auth.get_principal(session=session, token=token) is not None
        for bad in [
            "",
            ".",
            credential_id,
            f"{credential_id}.",
            f"{credential_id}.{secret}\xff",
            f"{credential_id}.{secret} ",
            f"{credential_id}\x00.{secret}",
            f"{credential_id}.{secret}" + "a" * 500,
        ]:
            assert auth.get_principal(session=session, token=bad) is None, bad
