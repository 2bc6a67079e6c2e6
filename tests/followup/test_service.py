"""Opening tickets from routing decisions: once per event, audit entry, clocks, outbox."""

from sqlalchemy import func, select

from feedbackloop.events import Priority, RoutingMethod, TicketEvent, TicketEventKind, decode
from services.followup import service
from services.followup.models import AuditEntry, Clock, OutboxMessage, Ticket
from tests import factories
from tests.followup.conftest import Desk


def events_of(desk: Desk, ticket_id: str) -> list[TicketEvent]:
    with desk.sessions() as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.key == ticket_id).order_by(OutboxMessage.id)
        ).scalars()
        return [decode(row.payload, expect=TicketEvent).data for row in rows]


def test_a_routed_item_becomes_a_ticket_with_clocks_an_audit_entry_and_an_event(
    desk: Desk,
) -> None:
    event = factories.routed(priority=Priority.URGENT)
    desk.route(event)
    with desk.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=event.data.feedback.ticket_no)
        assert ticket is not None
        assert (ticket.department_code, ticket.state, ticket.policy) == (
            "urban",
            "routed",
            "urgent",
        )
        assert ticket.due_at == event.data.feedback.received_at + (
            ticket.due_at - ticket.received_at
        )
        assert (ticket.due_at - ticket.received_at).total_seconds() == 2 * 3600
        kinds = sorted(c.kind for c in session.execute(select(Clock)).scalars())
        timeline = service.get_timeline(session=session, ticket_id=ticket.id)
    # The two limits, and the 督办 ladder's steps of sla.yaml; its 4-working-hour reminder
    # would come before receipt on a 2-hour limit and is left out.
    assert kinds == ["resolution", "response", "step:reprimand", "step:urge"]
    assert [(e.kind, e.state_to, e.actor) for e in timeline] == [("opened", "routed", "system")]
    (published,) = events_of(desk, ticket.id)
    assert published.kind is TicketEventKind.OPENED and published.due_at == ticket.due_at
    assert published.channel == "web"


def test_the_same_event_twice_opens_one_ticket_and_records_one_event(desk: Desk) -> None:
    event = factories.routed()
    desk.route(event)
    desk.route(event)
    with desk.sessions() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1


def test_an_unsure_item_opens_in_triage_and_an_assignment_routes_it(desk: Desk) -> None:
    item = factories.received("想咨询一下这个事情怎么办")
    desk.route(factories.routed(item, department="dispatch", method=RoutingMethod.TRIAGE))
    desk.route(
        factories.routed(
            item, department="civil", method=RoutingMethod.MANUAL, assigned_by="王芳", minute=5
        )
    )
    first, second = events_of(desk, item.data.ticket_id)
    assert first.state_to == "triage"
    assert (second.kind, second.state_from, second.state_to) == ("rerouted", "triage", "routed")
    assert second.actor == "operator:王芳"
    assert second.due_at == first.due_at  # the resolution clock runs from receipt, once
    with desk.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=item.data.ticket_no)
        assert ticket is not None
        assert (ticket.state, ticket.department_code, ticket.routing_method) == (
            "routed",
            "civil",
            "manual",
        )
