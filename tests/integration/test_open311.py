"""Open311 on the running stack: a request posted as a civic app posts it, resolved by its unit
through followup's API, followed by the `georeport` client and a FixMyStreet-style poller of
the updates, and published (a `published` ticket event written here as followup writes it, so
intake's side is proven whatever followup's board does)."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from georeport import GeoReport
from kafka import KafkaProducer

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events import Publication, TicketEventKind, encode, new_event
from feedbackloop.events.topics import TICKET_EVENTS
from services.followup.auth import Role
from services.intake.config import DEV_OPEN311_KEY
from services.intake.ticket_progress import STATE_LABELS
from tests.intake.fixmystreet import Poller
from tests.intake.test_open311 import GOOD, LAMP
from tests.integration.conftest import find_events, wait_for
from tests.integration.test_consoles import credential, ticket_api
from tests.integration.test_merges import act

pytestmark = pytest.mark.integration
V2 = "/open311/v2"


def test_a_civic_apps_request_is_followed_to_its_published_answer(
    stack: Stack, kafka: LocalKafka
) -> None:
    intake, followup = stack.services["intake"].url, stack.services["followup"].url
    water = credential(stack, Role.DEPARTMENT, "water")
    peer = GeoReport(f"{intake}{V2}", api_key=DEV_OPEN311_KEY)
    place = f"锦绣{secrets.token_hex(2).upper()}小区"
    words = f"{place}5栋的自来水停了两天，物业不管，请尽快派人处理。"
    form = dict(GOOD, api_key=peer.api_key, service_code=LAMP, description=words)
    created = httpx.post(f"{peer.root_address}/requests.json", data=form, timeout=10)
    assert created.status_code == 201, created.text
    number = created.json()[0]["service_request_id"]
    started = datetime.now(UTC) - timedelta(minutes=1)

    with httpx.Client(base_url=intake, timeout=10) as http:
        poller = Poller(http=http, root=V2, since=started)

        def seen(status: str) -> Any:
            poller.poll(datetime.now(UTC))
            report = poller.reports.get(number)
            return report if report and report.status == status else None

        assert number in [r["service_request_id"] for r in peer.get_service_requests()]
        wait_for(lambda: ticket_api(followup, number, water), what="the request at the water unit")
        wait_for(lambda: seen("open"), what="the poller's first update")
        act(followup, number, "accept", {}, water)
        answer = f"已联系供水公司抢修，{place}5栋今日18时恢复供水。"
        act(followup, number, "resolve", {"text": answer}, water)

        def closed() -> Any:
            found = peer.get_service_requests(status="closed", service_code=LAMP)
            return next((r for r in found if r["service_request_id"] == number), None)

        entry = wait_for(closed, what="the request closed in the georeport client's list")
        assert entry["agency_responsible"] and entry["description"] is None
        assert entry["lat"] is None and words not in str(peer.get_service_requests())
        report = wait_for(lambda: seen("closed"), what="the poller seeing it closed")
        assert report.status_notes in STATE_LABELS.values()  # a fixed phrase, not the reply

        (resolved,) = find_events(
            kafka.bootstrap,
            TICKET_EVENTS,
            lambda e: e.data.ticket_no == number and e.data.kind == "resolved",
        )
        publication = Publication(
            text=f"某小区5栋的自来水停了两天，物业不管，请尽快派人处理。{place}",
            reply=answer,
            category=resolved.data.category,
            district="岳麓区",
            lat=28.228,
            lng=112.939,
            resolved_at=resolved.data.occurred_at,
        )
        published = resolved.data.model_copy(
            update={
                "kind": TicketEventKind.PUBLISHED,
                "occurred_at": resolved.data.occurred_at + timedelta(seconds=1),
                "publication": publication,
                "reason": None,
            }
        )
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        event = new_event(data=published, source="/followup", subject=resolved.subject)
        producer.send(TICKET_EVENTS, key=resolved.subject.encode(), value=encode(event))
        producer.flush()
        producer.close()

        def shown() -> Any:
            found = peer.get_service_request(number)
            return found if found["status_notes"] == answer else None

        public = wait_for(shown, what="the published answer in the request")
        assert public["description"] == publication.text and public["address"] == "岳麓区"
        assert (public["lat"], public["long"]) == (28.228, 112.939)
        wait_for(
            lambda: seen("closed") and ("closed", answer) in poller.reports[number].history,
            what="the poller showing the answer",
        )


def test_a_consented_request_is_published_by_followup_and_shown_masked(stack: Stack) -> None:
    """The whole way round: consent given on the Open311 post, followup publishes the answered
    ticket itself, and the georeport client reads the masked words and the reply."""
    intake, followup = stack.services["intake"].url, stack.services["followup"].url
    water = credential(stack, Role.DEPARTMENT, "water")
    peer = GeoReport(f"{intake}{V2}", api_key=DEV_OPEN311_KEY)
    place = f"锦绣{secrets.token_hex(2).upper()}小区"
    words = f"{place}的自来水停了两天，我叫王小明，电话13912345678，请尽快派人处理。"
    form = dict(
        GOOD,
        api_key=peer.api_key,
        service_code=LAMP,
        description=words,
        **{"attribute[publication_consent]": "true"},
    )
    created = httpx.post(f"{peer.root_address}/requests.json", data=form, timeout=10)
    assert created.status_code == 201, created.text
    number = created.json()[0]["service_request_id"]
    wait_for(lambda: ticket_api(followup, number, water), what="the request at the water unit")
    act(followup, number, "accept", {}, water)
    answer = "已联系供水公司抢修，今日恢复供水。"
    act(followup, number, "resolve", {"text": answer}, water)

    def shown() -> Any:
        found = peer.get_service_request(number)
        return found if found["status_notes"] == answer else None

    public = wait_for(shown, what="followup's publication in the request")
    assert public["description"] and "自来水停了两天" in public["description"]
    assert "王小明" not in public["description"] and "13912345678" not in str(public)
    listed = {r["service_request_id"]: r for r in peer.get_service_requests(status="closed")}
    assert listed[number]["status_notes"] == answer
