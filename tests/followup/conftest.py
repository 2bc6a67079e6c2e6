"""A followup on a fresh store (SQLite, or PostgreSQL where a test asks), and its callers."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Envelope, FeedbackRouted
from services.followup import auth, flows
from services.followup.app import create_api, create_followup
from services.followup.auth import Role
from services.followup.config import Settings
from services.followup.deps import Followup

TOKENS = {
    "urban": ("市城市管理局", Role.DEPARTMENT, "urban"),
    "water": ("市水务局", Role.DEPARTMENT, "water"),
    "operator": ("话务员小李", Role.OPERATOR, None),
    "supervisor": ("督办科老王", Role.SUPERVISOR, None),
}


@dataclass
class Desk:
    """A followup under test, with bearer headers for each kind of caller."""

    followup: Followup
    client: TestClient
    headers: dict[str, dict[str, str]]

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The store's sessions."""
        return self.followup.sessions

    def route(self, routed: Envelope[FeedbackRouted]) -> None:
        """Apply a routing decision as the agent would."""
        with self.sessions.begin() as session:
            flows.apply_routing(
                session=session, desk=self.followup.desk, routed=routed, now=datetime.now(UTC)
            )

    def fire_clocks(self) -> int:
        """Fire whatever clock moments are due now (as the runner does)."""
        total = 0
        while True:
            with self.sessions.begin() as session:
                fired = flows.fire_due_clocks(
                    session=session, desk=self.followup.desk, now=datetime.now(UTC)
                )
            total += fired
            if not fired:
                return total


def make_desk(database_url: str) -> Desk:
    """A followup API on a store, with one credential per caller kind."""
    followup = create_followup(Settings(database_url=database_url))
    headers = {}
    with followup.sessions.begin() as session:
        for key, (name, role, department) in TOKENS.items():
            token = auth.create_credential(
                session=session,
                name=name,
                role=role,
                department_code=department,
                now=datetime.now(UTC),
            )
            headers[key] = {"Authorization": f"Bearer {token}"}
    return Desk(followup=followup, client=TestClient(create_api(followup)), headers=headers)


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """A followup on SQLite, and again on PostgreSQL (Debian's server on loopback)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'followup.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    made = make_desk(url)
    yield made
    made.client.close()
