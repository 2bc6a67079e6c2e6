"""What a request handler needs, as FastAPI dependencies (`FollowupDep`, `PrincipalDep`)."""

import hashlib
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.web.credentials import parse_token
from services.followup import auth
from services.followup.auth import Principal, Role
from services.followup.config import Settings
from services.followup.flows import Desk

#: A verified token is trusted this long without hashing it again (scrypt is slow on purpose).
_TOKEN_CACHE_SECONDS = 60.0


@dataclass
class Followup:
    """The parts of one followup process."""

    settings: Settings
    sessions: sessionmaker[Session]
    desk: Desk
    wake_relay: "WakeFn"
    _verified: dict[str, tuple[Principal, float]] = field(default_factory=dict)

    def principal(self, token: str) -> Principal | None:
        """The caller a bearer token belongs to (cached briefly after a successful check)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._verified.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self.sessions() as session:
            found = auth.get_principal(session=session, token=token)
        if found is not None:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[digest] = (found, time.monotonic() + _TOKEN_CACHE_SECONDS)
        return found


class WakeFn:
    """Tells the outbox relay that rows were committed (a no-op without a relay)."""

    def __init__(self, wake: "object | None" = None) -> None:
        self._wake = wake

    def __call__(self) -> None:
        if callable(self._wake):
            self._wake()


def _followup(request: Request) -> Followup:
    followup: Followup = request.app.state.followup
    return followup


FollowupDep = Annotated[Followup, Depends(_followup)]


def _principal(request: Request, followup: FollowupDep) -> Principal:
    # Malformed, non-ASCII or foreign-scheme headers are refused here like a wrong token.
    token = parse_token(request.headers.get("authorization"))
    found = followup.principal(f"{token.credential_id}.{token.secret}") if token else None
    if found is None:
        raise HTTPException(
            401,
            "请先登录：请求需要带上本单位的访问凭证（Authorization: Bearer <凭证>）",
            headers={"WWW-Authenticate": 'Bearer realm="feedbackloop-workbench"'},
        )
    return found


PrincipalDep = Annotated[Principal, Depends(_principal)]


def require(principal: Principal, *roles: Role) -> None:
    """403 unless the caller has one of `roles`."""
    if principal.role not in roles:
        raise HTTPException(403, "您的账号没有这项操作的权限")
