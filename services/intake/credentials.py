"""Credentials of the systems that submit on citizens' behalf: call centres and Open311 apps.

A system presents `<id>.<secret>` (a call centre as `Authorization: Bearer`, an Open311 app as
its `api_key`). Only scrypt(secret, salt) is stored; the secret is shown once, when
`feedbackloop intake add-credential` creates it, and `revoke-credential` ends it at once.
"""

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.web.credentials import Token, hash_secret, new_salt, new_token, secret_matches
from services.intake.limits import RateLimited, RateLimiter
from services.intake.models import Credential

#: Wrong secrets one credential may be tried with per minute before further tries are refused
#: unhashed: scrypt is slow on purpose, so guessing must not cost intake a core.
FAILURES_PER_MINUTE = 10


class Kind(StrEnum):
    """Which door a credential opens."""

    HOTLINE = "hotline"  # a call centre's system: /api/v1/hotline/*
    OPEN311 = "open311"  # a civic app: POST /open311/v2/requests.json
    AGENT = "agent"  # a 12345 agent (坐席) signing in to the /agent page


@dataclass(frozen=True)
class Holder:
    """An authenticated system."""

    credential_id: str
    kind: Kind
    name: str


def create_credential(*, session: Session, kind: Kind, name: str, now: datetime) -> str:
    """Store a new credential and return its token (the only time the secret is seen)."""
    credential_id, secret = new_token()
    salt = new_salt()
    session.add(
        Credential(
            id=credential_id,
            kind=kind.value,
            name=name,
            secret_hash=hash_secret(secret, salt),
            salt=salt,
            created_at=now,
        )
    )
    return f"{credential_id}.{secret}"


def revoke_credential(*, session: Session, credential_id: str, now: datetime) -> bool:
    """Revoke a credential (False if there is none by that id); revoking twice is harmless."""
    credential = session.get(Credential, credential_id)
    if credential is None:
        return False
    if credential.revoked_at is None:
        credential.revoked_at = now
    return True


def list_credentials(*, session: Session) -> list[Credential]:
    """Every credential, by kind and name."""
    stmt = select(Credential).order_by(Credential.kind, Credential.name)
    return list(session.execute(stmt).scalars())


class Systems:
    """Checks presented tokens and counts what each system submits.

    A secret is hashed with scrypt once per process; later requests compare a SHA-256 of it
    with the remembered one, so a call centre posting thousands of calls a minute costs no
    scrypt per call. The row is read on every request, so a revocation holds at once.
    """

    def __init__(self, *, sessions: sessionmaker[Session], per_minute: dict[Kind, int]) -> None:
        self._sessions = sessions
        self._verified: dict[str, bytes] = {}
        self._failures = RateLimiter(per_minute=FAILURES_PER_MINUTE)
        self._blocked_until: dict[str, float] = {}
        self._limits = {kind: RateLimiter(per_minute=n) for kind, n in per_minute.items()}
        self._lock = threading.Lock()

    def verify(self, token: Token | None, *, kind: Kind) -> Holder | None:
        """The system a token belongs to; None if unknown, wrong, revoked or of another kind."""
        if token is None:
            return None
        with self._sessions() as session:
            credential = session.get(Credential, token.credential_id)
        if credential is None or credential.revoked_at is not None or credential.kind != kind:
            return None
        digest = hashlib.sha256(token.secret.encode()).digest()
        with self._lock:
            known = self._verified.get(credential.id)
        if known is None or not hmac.compare_digest(known, digest):
            if self._blocked_until.get(credential.id, 0.0) > time.monotonic():
                return None
            stored = credential.secret_hash
            if not secret_matches(token.secret, salt=credential.salt, stored=stored):
                self._count_failure(credential.id)
                return None
            with self._lock:
                self._verified[credential.id] = digest
        return Holder(credential_id=credential.id, kind=Kind(credential.kind), name=credential.name)

    def admit(self, holder: Holder) -> None:
        """Count one submission; RateLimited when the system is over its per-minute limit."""
        self._limits[holder.kind].check(f"{holder.kind}:{holder.credential_id}")

    def record(self, holder: Holder, count: int) -> None:
        """Count submissions already taken (the rest of a batch admitted as a whole)."""
        self._limits[holder.kind].record(f"{holder.kind}:{holder.credential_id}", count)

    def _count_failure(self, credential_id: str) -> None:
        try:
            self._failures.check(credential_id)
        except RateLimited as exc:
            self._blocked_until[credential_id] = time.monotonic() + exc.retry_after
