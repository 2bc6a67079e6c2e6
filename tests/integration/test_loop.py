"""The whole loop on a real broker: web API -> router -> department queue -> ticket -> metrics."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kafka import KafkaProducer

from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from feedbackloop.events import DeadLetter, encode, new_event
from feedbackloop.events.topics import (
    DEAD_LETTER,
    FEEDBACK_RECEIVED,
    FEEDBACK_ROUTED,
    TICKET_EVENTS,
    queue_topic,
)
from services.router.classifier import CategoryModel
from tests import factories
from tests.integration.conftest import find_events, metric, wait_for

pytestmark = pytest.mark.integration


def status_key(accepted: Any) -> dict[str, str]:
    """The `k` of the status link intake gave: the whole ticket shows only with it."""
    (secret,) = parse_qs(urlsplit(accepted.json()["status_url"]).query)["k"]
    return {"k": secret}


COMPLAINT = {
    "title": "小区停水两天",
    "text": "幸福小区3栋的自来水管漏水，已经停水两天了，物业说不归他们管，请尽快派人维修。",
    "callback_consent": True,
    "location": "A市A3区幸福小区3栋",
}


def test_a_web_complaint_reaches_the_water_departments_queue_and_becomes_a_ticket(
    kafka: LocalKafka, stack: Stack
) -> None:
    intake = stack.services["intake"].url
    followup = stack.services["followup"].url
    metrics = stack.services["metrics"].url
    received_before = metric(metrics, "feedbackloop_feedback_received_total", {"channel": "web"})
    routed_labels = {"department": "water"}
    routed_before = metric(metrics, "feedbackloop_routed_by_rule_total", routed_labels)

    import httpx

    phone = factories.fresh_phone()
    reply = httpx.post(
        f"{intake}/api/v1/feedback", json=dict(COMPLAINT, contact_phone=phone), timeout=10
    )
    assert reply.status_code == 201, reply.text
    ticket_no = reply.json()["ticket_no"]
    ticket_id = reply.json()["ticket_id"]

    def about_it(event: object) -> bool:
        return getattr(event, "subject", None) == ticket_id

    (received,) = find_events(kafka.bootstrap, FEEDBACK_RECEIVED, about_it)
    assert received.data.ticket_no == ticket_no
    masked = f"{phone[:3]}****{phone[-4:]}"
    assert received.data.contact.phone_masked == masked
    assert phone not in encode(received).decode().replace(masked, "")

    (routed,) = find_events(kafka.bootstrap, FEEDBACK_ROUTED, about_it)
    assert routed.data.department_code == "water"
    assert routed.data.method == "rule"

    (queued,) = find_events(kafka.bootstrap, queue_topic("water"), about_it)
    assert queued.id == routed.id

    ticket = wait_for(
        lambda: (
            (
                r := httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", params=status_key(reply))
            ).status_code
            == 200
            and r.json()
        ),
        what="the ticket in followup",
    )
    assert ticket["department_code"] == "water"
    assert ticket["department_name"] == "市水务局"
    assert ticket["state"] == "routed"
    assert ticket["due_at"] > ticket["received_at"]
    assert [step["kind"] for step in ticket["timeline"]] == ["opened"]

    (opened,) = find_events(kafka.bootstrap, TICKET_EVENTS, about_it)
    assert opened.data.kind == "opened"

    wait_for(
        lambda: (
            metric(metrics, "feedbackloop_feedback_received_total", {"channel": "web"})
            == received_before + 1
        ),
        what="the received counter to move",
    )
    wait_for(
        lambda: (
            metric(metrics, "feedbackloop_routed_by_rule_total", routed_labels) == routed_before + 1
        ),
        what="the routed counter to move",
    )


def test_an_unknown_ticket_number_is_a_404_in_chinese(stack: Stack) -> None:
    import httpx

    reply = httpx.get(f"{stack.services['followup'].url}/api/v1/tickets/2611229999990")
    assert reply.status_code == 404
    assert "没有找到工单" in reply.json()["detail"]


def test_a_poison_message_is_dead_lettered_and_routing_goes_on(
    kafka: LocalKafka, stack: Stack
) -> None:
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    good = factories.received("楼下的自来水管爆了，整栋楼已经停水一天了")
    producer.send(FEEDBACK_RECEIVED, key=b"poison-1", value=b"\x00 definitely not an event")
    producer.send(FEEDBACK_RECEIVED, key=good.subject.encode(), value=encode(good))
    producer.flush()
    producer.close()

    (letter,) = find_events(
        kafka.bootstrap,
        DEAD_LETTER,
        lambda e: isinstance(e.data, DeadLetter) and e.data.key == "poison-1",
    )
    assert letter.data.consumer == "router"
    assert letter.data.topic == FEEDBACK_RECEIVED
    (routed,) = find_events(kafka.bootstrap, FEEDBACK_ROUTED, lambda e: e.subject == good.subject)
    assert routed.data.department_code == "water"


def test_an_item_no_rule_knows_is_routed_by_the_model(kafka: LocalKafka, stack: Stack) -> None:
    import httpx

    text = "公司拖欠工资三个月，老板不签劳动合同，申请劳动监察。"
    reply = httpx.post(f"{stack.services['intake'].url}/api/v1/feedback", json={"text": text})
    ticket_id = reply.json()["ticket_id"]
    (routed,) = find_events(kafka.bootstrap, FEEDBACK_ROUTED, lambda e: e.subject == ticket_id)
    assert routed.data.method == "model"
    assert routed.data.category == "劳动和社会保障"
    assert routed.data.department_code == "hrss"
    model = CategoryModel.load(stack.settings.router_model_dir)
    assert routed.data.confidence >= model.threshold
    assert routed.data.candidates[0].department_code == "hrss"
    (queued,) = find_events(kafka.bootstrap, queue_topic("hrss"), lambda e: e.subject == ticket_id)
    assert queued.id == routed.id


def test_an_unsure_item_waits_in_triage_until_an_operator_assigns_it(
    kafka: LocalKafka, stack: Stack
) -> None:
    import httpx

    intake, router = stack.services["intake"].url, stack.services["router"].url
    followup = stack.services["followup"].url
    operator = {"Authorization": "Bearer dev-operator-token"}
    reply = httpx.post(f"{intake}/api/v1/feedback", json={"text": "关于我们村的一些情况反映"})
    ticket_no, ticket_id = reply.json()["ticket_no"], reply.json()["ticket_id"]

    entry = wait_for(
        lambda: next(
            (
                e
                for e in httpx.get(f"{router}/api/v1/triage", headers=operator).json()
                if e["ticket_no"] == ticket_no
            ),
            None,
        ),
        what="the item in the triage queue",
    )
    assert len(entry["candidates"]) == 3
    ticket = wait_for(
        lambda: (
            (r := httpx.get(f"{followup}/api/v1/tickets/{ticket_no}")).status_code == 200
            and r.json()
        ),
        what="the triaged ticket in followup",
    )
    assert ticket["state"] == "triage" and ticket["department_code"] == "dispatch"

    assigned = httpx.post(
        f"{router}/api/v1/triage/{ticket_no}/assign",
        json={"department_code": "agriculture", "operator": "王芳"},
        headers=operator,
    )
    assert assigned.status_code == 200, assigned.text
    (queued,) = find_events(
        kafka.bootstrap, queue_topic("agriculture"), lambda e: e.subject == ticket_id
    )
    assert queued.data.method == "manual" and queued.data.assigned_by == "王芳"
    url = f"{followup}/api/v1/tickets/{ticket_no}"
    ticket = wait_for(
        lambda: (t := httpx.get(url, params=status_key(reply)).json())["state"] == "routed" and t,
        what="followup to apply the assignment",
    )
    assert ticket["department_name"] == "市农业农村局"
    assert [(s["kind"], s["actor"]) for s in ticket["timeline"]] == [
        ("opened", "system"),
        ("rerouted", "operator:王芳"),
    ]


def test_a_returned_ticket_is_rerouted_to_another_department(
    kafka: LocalKafka, stack: Stack
) -> None:
    import httpx

    from tests.router.test_returns import returned

    intake, followup = stack.services["intake"].url, stack.services["followup"].url
    text = "公司拖欠工资三个月，老板不签劳动合同，申请劳动监察。"
    reply = httpx.post(f"{intake}/api/v1/feedback", json={"text": text})
    ticket_id = reply.json()["ticket_id"]
    (first,) = find_events(kafka.bootstrap, FEEDBACK_ROUTED, lambda e: e.subject == ticket_id)
    assert first.data.department_code == "hrss"

    # What followup's workbench publishes when the department returns it (退单).
    back = returned(
        new_event(data=first.data.feedback, source="/intake", subject=ticket_id), "hrss"
    )
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    producer.send(TICKET_EVENTS, key=ticket_id.encode(), value=encode(back))
    producer.flush()
    producer.close()

    routed = find_events(
        kafka.bootstrap, FEEDBACK_ROUTED, lambda e: e.subject == ticket_id, count=2
    )
    again = routed[-1].data
    assert again.department_code not in {"hrss", "dispatch"}
    assert "退单后重派" in (again.rule or "")
    queued = find_events(
        kafka.bootstrap, queue_topic(again.department_code), lambda e: e.subject == ticket_id
    )
    assert queued[0].id == routed[-1].id
    ticket_no = reply.json()["ticket_no"]
    url = f"{followup}/api/v1/tickets/{ticket_no}"
    ticket = wait_for(
        lambda: (
            (t := httpx.get(url, params=status_key(reply)).json())["department_code"]
            == again.department_code
            and t
        ),
        what="followup to re-route the returned ticket",
    )
    assert [s["kind"] for s in ticket["timeline"]] == ["opened", "rerouted"]
