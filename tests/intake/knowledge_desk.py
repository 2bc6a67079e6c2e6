"""An intake whose knowledge base is a real followup, in process, with articles in it.

followup's API runs under a TestClient, which is an httpx client: intake's `KnowledgeBase`
talks to it over the same HTTP interface as in production, with an operator credential.
"""

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from feedbackloop.events import Envelope, FeedbackReceived, decode
from services.followup.app import create_api
from services.intake.knowledge import KnowledgeBase
from services.intake.models import OutboxMessage
from tests.followup.conftest import Desk, make_desk

WATER = {
    "title": "计划停水期间如何临时取水",
    "body_md": (
        "## 临时取水\n管网维修造成**计划停水**时，水务集团会在小区门口设置临时供水车。\n"
        "- 停水超过24小时可拨打 96116\n- 停水通知见[水务集团网站](https://water.example.cn)"
    ),
}
PERMIT = {
    "title": "居住证办理需要哪些材料",
    "body_md": "办理居住证需携带身份证、租房合同或房产证明，到居住地派出所办理，10个工作日内取证。",
}


def followup_with_articles(tmp_path: Path) -> tuple[Desk, dict[str, int]]:
    """A followup on SQLite with two departments' articles; their ids by key."""
    desk = make_desk(f"sqlite:///{tmp_path / 'followup.db'}")
    ids = {}
    for key, who, body in (("water", "water", WATER), ("permit", "urban", PERMIT)):
        made = desk.client.post("/api/v1/workbench/articles", headers=desk.headers[who], json=body)
        assert made.status_code == 201, made.json()
        ids[key] = made.json()["id"]
    return desk, ids


def knowledge_of(desk: Desk) -> KnowledgeBase:
    """intake's client of this followup's knowledge base, as its operator credential."""
    client = TestClient(create_api(desk.followup), headers=desk.headers["operator"])
    return KnowledgeBase(client=client)


def unreachable() -> KnowledgeBase:
    """A knowledge base whose followup is down: every call fails to connect."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return KnowledgeBase(
        client=httpx.Client(
            base_url="http://followup.invalid", transport=httpx.MockTransport(refuse)
        )
    )


def with_knowledge(client: TestClient, knowledge: KnowledgeBase | None) -> TestClient:
    """The intake behind a test client, now asking this knowledge base."""
    app: Any = client.app
    app.state.intake = dataclasses.replace(app.state.intake, knowledge=knowledge)
    return client


def received(client: TestClient) -> list[Envelope[FeedbackReceived]]:
    """The FeedbackReceived events waiting in intake's outbox, oldest first."""
    app: Any = client.app
    with app.state.intake.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return [decode(row.payload, expect=FeedbackReceived) for row in rows]


def now() -> datetime:
    return datetime.now(UTC)
