"""Workbench credentials: a department, an operator or a supervisor, with a hashed secret.

A credential is presented as `Authorization: Bearer <id>.<secret>`. Only scrypt(secret,
salt) is stored (`feedbackloop.web.credentials`, the hashing every service shares); the
secret is shown once, when the credential is created.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.web.credentials import (
    hash_secret,
    new_salt,
    new_token,
    secret_matches,
    split_token,
)
from services.followup.models import Credential


class Role(StrEnum):
    """What a credential may do."""

    DEPARTMENT = "department"  # work its own department's tickets
    OPERATOR = "operator"  # 12345 centre: every ticket, extensions, hotline surveys
    SUPERVISOR = "supervisor"  # 督办: everything an operator may, and close escalations


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    credential_id: str
    name: str
    role: Role
    department_code: str | None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        if self.role is Role.DEPARTMENT:
            return f"department:{self.department_code}"
        return f"{self.role.value}:{self.name}"

    @property
    def scope(self) -> str | None:
        """The department whose tickets this caller sees; None for all."""
        return self.department_code if self.role is Role.DEPARTMENT else None


def create_credential(
    *,
    session: Session,
    name: str,
    role: Role,
    department_code: str | None,
    now: datetime,
    secret: str | None = None,
) -> str:
    """Store a new credential and return its token (the only time the secret is seen)."""
    if (role is Role.DEPARTMENT) != (department_code is not None):
        raise ValueError("a department credential names its department; others do not")
    credential_id, fresh = new_token()
    secret = secret or fresh
    salt = new_salt()
    session.add(
        Credential(
            id=credential_id,
            name=name,
            role=role.value,
            department_code=department_code,
            secret_hash=hash_secret(secret, salt),
            salt=salt,
            created_at=now,
        )
    )
    return f"{credential_id}.{secret}"


def get_principal(*, session: Session, token: str) -> Principal | None:
    """The caller a token belongs to, or None if it is malformed, unknown, wrong or disabled."""
    parsed = split_token(token)
    if parsed is None:  # refused before the store or scrypt is touched
        return None
    credential = session.get(Credential, parsed.credential_id)
    if credential is None or credential.disabled_at is not None:
        return None
    if not secret_matches(parsed.secret, salt=credential.salt, stored=credential.secret_hash):
        return None
    return _principal(credential)


def get_principal_by_id(*, session: Session, credential_id: str) -> Principal | None:
    """The caller a signed-in browser session names, unless the credential was disabled since."""
    credential = session.get(Credential, credential_id)
    if credential is None or credential.disabled_at is not None:
        return None
    return _principal(credential)


def _principal(credential: Credential) -> Principal:
    return Principal(
        credential_id=credential.id,
        name=credential.name,
        role=Role(credential.role),
        department_code=credential.department_code,
    )


def list_credentials(*, session: Session) -> list[Credential]:
    """Every credential, by name."""
    return list(session.execute(select(Credential).order_by(Credential.name)).scalars())
