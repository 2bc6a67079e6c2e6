"""Assigning a triaged item is atomic in the store: of two operators at once exactly one
wins, on SQLite as on PostgreSQL, and a failed send leaves the item waiting."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.sql import create_store
from services.router import flows, service
from services.router.config import DEFAULT_RULES
from services.router.models import Base
from services.router.rules import load_rule_table
from tests import factories
from tests.router.test_triage import CANDIDATES

TABLE = load_rule_table(DEFAULT_RULES)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'router.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return create_store(url, Base.metadata)


def queued(sessions: sessionmaker[Session]) -> str:
    item = factories.received("关于我们村的一些情况反映", title="情况反映")
    with sessions.begin() as session:
        service.create_triage_item(
            session=session,
            received=item,
            candidates=CANDIDATES,
            priority="normal",
            now=datetime.now(UTC),
        )
    return item.data.ticket_no


class SlowBroker:
    """Acknowledges each record after a while, so two assignments overlap while publishing."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    async def __call__(self, topic: str, key: str, value: bytes) -> asyncio.Future[None]:
        await asyncio.sleep(0.05)
        if self.fail:
            raise KafkaConnectionError("broker down")
        self.sent.append(topic)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def assign(
    sessions: sessionmaker[Session], broker: SlowBroker, ticket_no: str, code: str, who: str
) -> flows.Assigned | flows.AssignError:
    try:
        return await flows.assign(
            sessions=sessions,
            table=TABLE,
            publish=broker,
            ticket_no=ticket_no,
            department_code=code,
            operator=who,
        )
    except flows.AssignError as exc:
        return exc


def test_of_two_assignments_at_once_exactly_one_wins(sessions: sessionmaker[Session]) -> None:
    ticket_no = queued(sessions)
    broker = SlowBroker()

    async def both() -> list[flows.Assigned | flows.AssignError]:
        return list(
            await asyncio.gather(
                assign(sessions, broker, ticket_no, "civil", "王芳"),
                assign(sessions, broker, ticket_no, "housing", "李明"),
            )
        )

    outcomes = asyncio.run(both())
    won = [o for o in outcomes if isinstance(o, flows.Assigned)]
    lost = [o for o in outcomes if isinstance(o, flows.AssignError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert lost[0].status == 409 and "该工单已由其他接线员分派" in lost[0].message
    code = won[0].department_code
    assert broker.sent == ["feedback.routed", f"queue.{code}"]
    with sessions() as session:
        item = service.get_triage_item(session=session, ticket_no=ticket_no)
        assert item is not None and item.assigned_to == code
        assert len(service.list_corrections(session=session)) == 1


def test_a_failed_send_leaves_the_item_waiting_and_a_retry_wins(
    sessions: sessionmaker[Session],
) -> None:
    ticket_no = queued(sessions)
    failed = asyncio.run(assign(sessions, SlowBroker(fail=True), ticket_no, "civil", "王芳"))
    assert isinstance(failed, flows.AssignError) and failed.status == 503
    with sessions() as session:
        waiting = service.list_open_triage(session=session, limit=10)
        assert [i.ticket_no for i in waiting] == [ticket_no]
        assert service.list_corrections(session=session) == []
    broker = SlowBroker()
    done = asyncio.run(assign(sessions, broker, ticket_no, "civil", "王芳"))
    assert isinstance(done, flows.Assigned) and broker.sent == ["feedback.routed", "queue.civil"]
