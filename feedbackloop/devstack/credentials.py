"""The local stack's simulated call centre: a hotline credential the simulator and tests use.

A deployment creates one credential per real call-centre system with `feedbackloop intake
add-credential`; the local stack makes its own at start so `feedbackloop simulate` can post
calls, and keeps the token in the state directory (readable by its owner only).
"""

import os
from datetime import UTC, datetime
from pathlib import Path

TOKEN_FILE = "hotline.token"
NAME = "本地开发：模拟话务系统"


def stack_hotline_token(*, state_dir: Path, database_url: str) -> str:
    """The stack's call-centre token: the recorded one while it is valid, else a new one."""
    from feedbackloop.web.credentials import split_token
    from services.intake.credentials import Kind, Systems, create_credential
    from services.intake.database import create_store

    sessions = create_store(database_url)
    path = state_dir / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if Systems(sessions=sessions, per_minute={}).verify(split_token(token), kind=Kind.HOTLINE):
            return token
    with sessions.begin() as session:
        token = create_credential(
            session=session, kind=Kind.HOTLINE, name=NAME, now=datetime.now(UTC)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(token + "\n")
    return token


def recorded_hotline_token(state_dir: Path) -> str | None:
    """The token the last `feedbackloop up` recorded, if any."""
    try:
        return (state_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def staff_headers(
    *, database_url: str, name: str, role: str, department: str | None = None
) -> dict[str, str]:
    """A new followup credential, as `feedbackloop followup add-credential` makes it, as headers."""
    from services.followup import auth
    from services.followup.database import open_store

    with open_store(database_url).begin() as session:
        token = auth.create_credential(
            session=session,
            name=name,
            role=auth.Role(role),
            department_code=department,
            now=datetime.now(UTC),
        )
    return {"Authorization": f"Bearer {token}"}


KNOWLEDGE_TOKEN_FILE = "knowledge.token"
KNOWLEDGE_NAME = "本地开发：intake 知识库检索"


def stack_knowledge_token(*, state_dir: Path, database_url: str) -> str:
    """intake's followup credential for knowledge-base searches (直接答复), kept while valid.

    A deployment makes it with `feedbackloop followup add-credential --role operator` and
    gives it to intake as FEEDBACKLOOP_INTAKE_KNOWLEDGE_TOKEN; the local stack does so itself.
    """
    from services.followup import auth
    from services.followup.database import open_store

    sessions = open_store(database_url)
    path = state_dir / KNOWLEDGE_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        with sessions() as session:
            if auth.get_principal(session=session, token=token) is not None:
                return token
    with sessions.begin() as session:
        token = auth.create_credential(
            session=session,
            name=KNOWLEDGE_NAME,
            role=auth.Role.OPERATOR,
            department_code=None,
            now=datetime.now(UTC),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(token + "\n")
    return token
