"""The notifier on followup's migrated store, on SQLite and on a real PostgreSQL."""

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from feedbackloop.events import Channel
from services.followup.database import open_store
from services.followup.notify.callbacks import list_open_callbacks, update_callback_done
from services.followup.notify.models import NotificationRecord
from services.followup.notify.notifier import Notification, Notifier
from services.followup.notify.sms import SmsGateway

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_deliveries_and_callbacks_on_the_migrated_store(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'f.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    sessions = open_store(url)
    sms = SmsGateway(
        httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200))),
        "https://sms.example.gov.cn/v1/messages",
        "k",
    )
    dead: list[str] = []
    notifier = Notifier(sessions, None, sms, lambda _n, reason: dead.append(reason))
    base = {"ticket_no": "2611221000014", "purpose": "resolved", "text": "您的诉求已办结。"}
    web = Notification(event_id="ev-web", channel=Channel.WEB, phone="13812345678", **base)
    call = Notification(
        event_id="ev-call", channel=Channel.HOTLINE, phone_masked="138****5678", **base
    )
    assert [notifier.deliver(web), notifier.deliver(web)] == ["sent", "sent"]
    assert [notifier.deliver(call), notifier.deliver(call)] == ["queued", "queued"]
    with sessions.begin() as session:
        (task,) = list_open_callbacks(session=session, limit=5)
        update_callback_done(session=session, task=task, agent="a", outcome="reached", now=NOW)
    with sessions() as session:
        records = session.execute(select(NotificationRecord).order_by(NotificationRecord.id))
        assert [(r.event_id, r.status) for r in records.scalars()] == [
            ("ev-web", "sent"),
            ("ev-call", "queued"),
        ]
        assert list_open_callbacks(session=session, limit=5) == []
    assert dead == []
