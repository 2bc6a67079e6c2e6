"""Which ticket events reach the citizen, on which channel, with what words."""

import json
from datetime import UTC, datetime

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import select

from feedbackloop.events import Channel
from feedbackloop.events.topics import TICKET_EVENTS
from feedbackloop.runtime.batches import Record
from feedbackloop.runtime.producer import Output
from services.followup.config import DEV_CONTACT_KEY
from services.followup.models import OutboxMessage
from services.followup.notifications import create_notifier, notifying
from tests import factories
from tests.factories import KafkaRecord
from tests.followup.conftest import Desk

API = "/api/v1/workbench"


def deliver_all(desk: Desk, http: httpx.Client) -> list[Output]:
    """Every ticket event in the outbox, as one batch of ticket.events, to the notifying
    handler; what it publishes (dead letters)."""
    settings = desk.followup.settings.model_copy(
        update={"sms_gateway_url": "http://sms.test/send", "sms_api_key": "k"}
    )
    notifier = create_notifier(settings, desk.sessions, http=http)
    handler = notifying(sessions=desk.sessions, settings=settings, notifier=notifier)
    with desk.sessions() as session:
        rows = list(session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
    records: list[Record] = [
        KafkaRecord(row.topic, 0, n, row.key.encode(), row.payload)
        for n, row in enumerate(r for r in rows if r.topic == TICKET_EVENTS)
    ]
    # Another service's bad record on the topic is skipped, not dead-lettered here.
    records.append(KafkaRecord(TICKET_EVENTS, 0, len(records), b"k", b"not an event"))
    return handler.apply_batch(handler.prepare(records))


def test_a_web_citizen_who_consented_gets_texts_with_the_real_number(desk: Desk) -> None:
    sent: list[dict[str, str]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k"
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"ok": True})

    sealed = Fernet(DEV_CONTACT_KEY.encode()).encrypt(b"13812345678").decode()
    texted = factories.received(
        "小区路灯坏了",
        received_at=datetime.now(UTC),
        ticket_no="2611239800001",
        contact={"phone_masked": "138****5678", "callback_consent": True, "phone_sealed": sealed},
    )
    silent = factories.received(
        "路面坑洼", received_at=datetime.now(UTC), ticket_no="2611239800002"
    )
    for item in (texted, silent):
        desk.route(factories.routed(item))
        accept = f"{API}/tickets/{item.data.ticket_no}/accept"
        assert desk.client.post(accept, headers=desk.headers["urban"]).is_success
    with httpx.Client(transport=httpx.MockTransport(gateway)) as http:
        assert deliver_all(desk, http) == []
        assert deliver_all(desk, http) == []  # the same events again: nobody is texted twice
    assert [(m["phone"], m["text"]) for m in sent] == [
        ("13812345678", "您反映的问题（工单号2611239800001）已由市城市管理局签收办理。")
    ]
    assert texted.data.channel is Channel.WEB
