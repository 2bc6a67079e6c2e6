"""直接答复: a consultation answered at intake is opened and closed at once in followup."""

from datetime import UTC, datetime

from sqlalchemy import select

from feedbackloop.events import (
    DirectAnswer,
    Envelope,
    FeedbackReceived,
    RequestType,
    RoutingMethod,
    TicketEvent,
    decode,
)
from feedbackloop.web.status_links import status_secret
from services.followup import service
from services.followup.models import Clock, OutboxMessage, Ticket
from services.followup.web.labels import KIND_LABELS
from tests import factories
from tests.followup.conftest import Desk
from tests.followup.knowledge.test_service import WATER_CUT, add

NUMBER = "2612041000017"
ANSWER = "管网维修造成停水时，水务集团会在小区门口设置临时供水车。停水超过24小时可拨打96116。"


def direct_item(
    article_id: int, *, number: str = NUMBER, department: str = "water"
) -> Envelope[FeedbackReceived]:
    return factories.received(
        "请问计划停水的时候去哪里取水？",
        ticket_no=number,
        received_at=datetime.now(UTC),
        request_type=RequestType.CONSULTATION,
        direct_answer=DirectAnswer(
            article_id=article_id,
            article_title=WATER_CUT["title"],
            department_code=department,
            answer=ANSWER,
            answered_by="agent:坐席1024",
            score=0.62,
        ),
    )


def ticket_events(desk: Desk, ticket_id: str) -> list[TicketEvent]:
    with desk.sessions() as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.key == ticket_id).order_by(OutboxMessage.id)
        ).scalars()
        return [decode(row.payload, expect=TicketEvent).data for row in rows]


def test_a_direct_answer_is_closed_at_once_in_the_articles_department(desk: Desk) -> None:
    status, article = add(desk, "water", WATER_CUT)
    assert status == 201
    item = direct_item(article["id"])
    # The router guessed urban from the words; the article is water's, and so is the ticket.
    desk.route(factories.routed(item, department="urban"))
    with desk.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=NUMBER)
        assert ticket is not None
        assert (ticket.state, ticket.department_code) == ("closed", "water")
        assert ticket.department_name == "市水务局"  # the unit's credential names it
        assert (ticket.reply, ticket.direct_article_id) == (ANSWER, article["id"])
        running = session.execute(
            select(Clock).where(Clock.ticket_id == ticket.id, Clock.stopped_at.is_(None))
        ).all()
        assert running == []  # nothing can warn, breach or invite a survey later
        trail = [
            (e.kind, e.actor) for e in service.get_timeline(session=session, ticket_id=ticket.id)
        ]
    assert trail == [("answered_directly", "agent:坐席1024"), ("closed", "system")]
    events = ticket_events(desk, item.data.ticket_id)
    assert [(e.kind.value, e.state_to.value) for e in events] == [
        ("answered_directly", "resolved"),
        ("closed", "closed"),
    ]
    assert events[0].article_id == article["id"] and events[0].channel == "web"
    assert KIND_LABELS["answered_directly"] == "直接答复"


def test_a_later_decision_about_a_directly_answered_ticket_is_ignored(desk: Desk) -> None:
    _, article = add(desk, "water", WATER_CUT)
    item = direct_item(article["id"])
    desk.route(factories.routed(item, method=RoutingMethod.TRIAGE))
    # An operator assigns it from the router's triage list before seeing it was answered.
    desk.route(factories.routed(item, department="urban", method=RoutingMethod.MANUAL, minute=5))
    with desk.sessions() as session:
        ticket = session.get(Ticket, item.data.ticket_id)
        assert ticket is not None and (ticket.state, ticket.department_code) == ("closed", "water")
    assert len(ticket_events(desk, item.data.ticket_id)) == 2


def test_an_article_retired_or_gone_still_closes_in_the_department_intake_named(
    desk: Desk,
) -> None:
    item = direct_item(4242, department="water")
    desk.route(factories.routed(item, department="water"))
    with desk.sessions() as session:
        ticket = session.get(Ticket, item.data.ticket_id)
        assert ticket is not None
        assert (ticket.state, ticket.department_code, ticket.direct_article_id) == (
            "closed",
            "water",
            4242,
        )


def test_the_citizens_status_page_shows_the_answer(desk: Desk) -> None:
    _, article = add(desk, "water", WATER_CUT)
    desk.route(factories.routed(direct_item(article["id"])))
    secret = status_secret(key=desk.followup.settings.status_link_key, ticket_no=NUMBER)
    page = desk.client.get(f"/t/{NUMBER}", params={"k": secret})
    assert page.status_code == 200
    assert "答复内容" in page.text and "96116" in page.text
    assert "已依据知识库直接答复您的咨询" in page.text
    glimpse = desk.client.get(f"/t/{NUMBER}")  # the number alone: state and unit only
    assert "96116" not in glimpse.text and "已结案" in glimpse.text
