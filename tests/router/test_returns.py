"""Returns (退单): the next department not yet tried; after two returns, the dispatch desk."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    Priority,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    TicketState,
    encode,
    new_event,
)
from feedbackloop.runtime.sql import create_store
from services.router import flows, service
from services.router.config import DEFAULT_RULES
from services.router.models import Base
from services.router.rules import RuleTable, load_rule_table
from tests import factories

RANKING = [("城乡建设", 0.55), ("环境保护", 0.3), ("民政", 0.1), ("农村农业", 0.05)]


@pytest.fixture
def table() -> RuleTable:
    return load_rule_table(DEFAULT_RULES)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)


def returned(item: Envelope[FeedbackReceived], department: str) -> Envelope[TicketEvent]:
    event = TicketEvent(
        ticket_id=item.data.ticket_id,
        ticket_no=item.data.ticket_no,
        kind=TicketEventKind.RETURNED,
        state_from=TicketState.ROUTED,
        state_to=TicketState.RETURNED,
        department_code=department,
        priority=Priority.NORMAL,
        actor=f"department:{department}",
        reason="不属于我单位职责",
        received_at=item.data.received_at,
        occurred_at=datetime.now(UTC),
    )
    return new_event(data=event, source="/followup", subject=item.data.ticket_id)


def routed_to_housing(sessions: sessionmaker[Session]) -> Envelope[FeedbackReceived]:
    item = factories.received("小区旁边的空地堆满建筑垃圾")
    with sessions.begin() as session:
        service.create_routing_records(
            session=session,
            records=[(item.data.ticket_id, encode(item), RANKING, "housing")],
            now=datetime.now(UTC),
        )
    return item


def test_a_first_return_goes_to_the_best_department_not_yet_tried(
    sessions: sessionmaker[Session], table: RuleTable
) -> None:
    item = routed_to_housing(sessions)
    plan = flows.plan_return(
        sessions=sessions, table=table, threshold=0.77, returned=returned(item, "housing")
    )
    assert plan is not None
    assert plan.routed.data.department_code == "environment"
    assert plan.routed.data.method is RoutingMethod.MODEL
    assert "不属于我单位职责" in (plan.routed.data.rule or "")
    assert [c.department_code for c in plan.routed.data.candidates] == [
        "environment",
        "civil",
        "agriculture",
    ]
    flows.commit_return(sessions=sessions, plan=plan)
    with sessions() as session:
        record = service.get_routing_record(session=session, ticket_id=item.data.ticket_id)
        assert record is not None and record.returns == 1


def test_a_second_return_lands_in_triage(sessions: sessionmaker[Session], table: RuleTable) -> None:
    item = routed_to_housing(sessions)
    first = flows.plan_return(
        sessions=sessions, table=table, threshold=0.77, returned=returned(item, "housing")
    )
    assert first is not None
    flows.commit_return(sessions=sessions, plan=first)
    second = flows.plan_return(
        sessions=sessions, table=table, threshold=0.77, returned=returned(item, "environment")
    )
    assert second is not None
    assert second.routed.data.department_code == "dispatch"
    assert second.routed.data.method is RoutingMethod.TRIAGE
    assert [c.department_code for c in second.routed.data.candidates] == ["civil", "agriculture"]
    flows.commit_return(sessions=sessions, plan=second)
    with sessions() as session:
        (queued,) = service.list_open_triage(session=session, limit=10)
    assert queued.ticket_id == item.data.ticket_id


def test_a_redelivered_return_is_planned_the_same_and_recorded_once(
    sessions: sessionmaker[Session], table: RuleTable
) -> None:
    item = routed_to_housing(sessions)
    event = returned(item, "housing")
    first = flows.plan_return(sessions=sessions, table=table, threshold=0.77, returned=event)
    assert first is not None
    flows.commit_return(sessions=sessions, plan=first)
    flows.commit_return(sessions=sessions, plan=first)
    with sessions() as session:
        record = service.get_routing_record(session=session, ticket_id=item.data.ticket_id)
        assert record is not None and record.returns == 1


def test_a_return_of_an_unknown_ticket_is_ignored(
    sessions: sessionmaker[Session], table: RuleTable
) -> None:
    event = returned(factories.received("别处来的工单"), "housing")
    assert flows.plan_return(sessions=sessions, table=table, threshold=0.77, returned=event) is None
