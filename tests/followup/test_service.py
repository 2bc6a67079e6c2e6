"""Opening tickets in the store: once per event, with an audit entry and a deadline."""

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Priority, RoutingMethod, TicketEventKind, TicketState
from services.followup import service
from services.followup.app import open_store
from services.followup.models import AuditEntry, Ticket
from tests import factories


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return open_store(f"sqlite:///{tmp_path / 'followup.db'}")


def test_a_routed_item_becomes_a_ticket_with_a_deadline_and_an_audit_entry(
    sessions: sessionmaker[Session],
) -> None:
    event = factories.routed(priority=Priority.URGENT)
    with sessions.begin() as session:
        opened = service.apply_routing(session=session, routed=event)
    assert opened.created
    assert opened.event.data.kind is TicketEventKind.OPENED
    assert opened.event.data.state_to is TicketState.ROUTED
    with sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=event.data.feedback.ticket_no)
        assert ticket is not None
        assert ticket.department_code == "urban"
        assert ticket.due_at == opened.event.data.due_at
        assert ticket.due_at.tzinfo is not None
        timeline = service.get_timeline(session=session, ticket_id=ticket.id)
    assert [(e.kind, e.state_to, e.actor) for e in timeline] == [("opened", "routed", "system")]


def test_the_same_event_twice_opens_one_ticket_and_yields_the_same_ticket_event(
    sessions: sessionmaker[Session],
) -> None:
    event = factories.routed()
    with sessions.begin() as session:
        first = service.apply_routing(session=session, routed=event)
    with sessions.begin() as session:
        second = service.apply_routing(session=session, routed=event)
    assert not second.created
    assert first.event.id == second.event.id
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1


def test_an_unknown_ticket_number_is_none(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert service.get_ticket(session=session, ticket_no="0000000000000") is None


def test_an_unsure_item_opens_in_triage_and_an_assignment_routes_it(
    sessions: sessionmaker[Session],
) -> None:
    item = factories.received("想咨询一下这个事情怎么办")
    triaged = factories.routed(item, department="dispatch", method=RoutingMethod.TRIAGE)
    assigned = factories.routed(
        item, department="civil", method=RoutingMethod.MANUAL, assigned_by="王芳", minute=5
    )
    with sessions.begin() as session:
        first = service.apply_routing(session=session, routed=triaged)
    with sessions.begin() as session:
        second = service.apply_routing(session=session, routed=assigned)
    assert first.event.data.state_to is TicketState.TRIAGE
    assert second.event.data.kind is TicketEventKind.REROUTED
    assert (second.event.data.state_from, second.event.data.state_to) == (
        TicketState.TRIAGE,
        TicketState.ROUTED,
    )
    assert second.event.data.actor == "operator:王芳"
    assert second.event.data.due_at == first.event.data.due_at  # the clock does not restart
    with sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=item.data.ticket_no)
        assert ticket is not None
        assert (ticket.state, ticket.department_code, ticket.routing_method) == (
            "routed",
            "civil",
            "manual",
        )
        kinds = [e.kind for e in service.get_timeline(session=session, ticket_id=ticket.id)]
    assert kinds == ["opened", "rerouted"]
