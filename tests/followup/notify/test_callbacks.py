"""Hotline callback tasks: created by the notifier, listed for agents, marked done once."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Channel
from services.followup.notify.callbacks import (
    CallbackAlreadyDone,
    get_callback,
    list_open_callbacks,
    update_callback_done,
)
from services.followup.notify.models import CallbackOutcome
from services.followup.notify.notifier import Notification, Notifier
from services.followup.notify.texts import Purpose, render

START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def hotline(event_id: str, ticket_no: str, purpose: Purpose) -> Notification:
    return Notification(
        event_id=event_id,
        ticket_no=ticket_no,
        channel=Channel.HOTLINE,
        phone="13812345678",
        phone_masked="138****5678",
        phone_sealed="gAAAAAB-sealed",
        purpose=purpose,
        text=render(purpose, ticket_no=ticket_no, department="市水务局", reply="已修复水管。"),
    )


@pytest.fixture
def notifier(sessions: sessionmaker[Session]) -> Notifier:
    times = iter(START + timedelta(minutes=n) for n in range(100))

    def no_dead_letters(_notification: Notification, reason: str) -> None:
        pytest.fail(reason)

    return Notifier(sessions, None, None, no_dead_letters, clock=lambda: next(times))


def test_a_hotline_callback_is_listed_then_marked_done(
    sessions: sessionmaker[Session], notifier: Notifier
) -> None:
    assert notifier.deliver(hotline("ev-1", "2611221000014", Purpose.RESOLVED)) == "queued"
    assert notifier.deliver(hotline("ev-2", "2611221000022", Purpose.SURVEY)) == "queued"
    with sessions() as session:
        open_tasks = list_open_callbacks(session=session, limit=10)
        assert [t.ticket_no for t in open_tasks] == ["2611221000014", "2611221000022"]
        assert open_tasks[0].text == (
            "您反映的问题（工单号2611221000014）已由市水务局办结。办理结果：已修复水管。"
        )
        assert [t.ticket_no for t in list_open_callbacks(session=session, limit=1)] == [
            "2611221000014"
        ]
        first_id = open_tasks[0].id

    done_at = START + timedelta(hours=2)
    with sessions.begin() as session:
        task = get_callback(session=session, callback_id=first_id)
        assert task is not None
        done = update_callback_done(
            session=session,
            task=task,
            agent="agent:王芳",
            outcome=CallbackOutcome.REACHED,
            now=done_at,
        )
        assert (done.done_at, done.done_by, done.outcome) == (done_at, "agent:王芳", "reached")

    with sessions() as session:
        assert [t.event_id for t in list_open_callbacks(session=session, limit=10)] == ["ev-2"]
        stored = get_callback(session=session, callback_id=first_id)
        assert stored is not None and stored.done_at == done_at
        assert get_callback(session=session, callback_id=9999) is None


def test_a_callback_is_done_only_once(sessions: sessionmaker[Session], notifier: Notifier) -> None:
    notifier.deliver(hotline("ev-1", "2611221000014", Purpose.REPLIED))
    with sessions.begin() as session:
        (task,) = list_open_callbacks(session=session, limit=10)
        update_callback_done(
            session=session,
            task=task,
            agent="agent:a",
            outcome=CallbackOutcome.NO_ANSWER,
            now=START,
        )
    with sessions.begin() as session:
        task = get_callback(session=session, callback_id=task.id)
        assert task is not None
        with pytest.raises(CallbackAlreadyDone):
            update_callback_done(
                session=session,
                task=task,
                agent="agent:b",
                outcome=CallbackOutcome.REACHED,
                now=START,
            )
        assert (task.done_by, task.outcome) == ("agent:a", "no_answer")


def test_a_stale_task_object_cannot_overwrite_another_agents_result(
    sessions: sessionmaker[Session], notifier: Notifier
) -> None:
    notifier.deliver(hotline("ev-1", "2611221000014", Purpose.REPLIED))
    with sessions() as first, sessions() as second:
        (mine,) = list_open_callbacks(session=first, limit=10)
        (theirs,) = list_open_callbacks(session=second, limit=10)
        update_callback_done(
            session=second, task=theirs, agent="agent:b", outcome="reached", now=START
        )
        second.commit()
        with pytest.raises(CallbackAlreadyDone):
            update_callback_done(
                session=first, task=mine, agent="agent:a", outcome="refused", now=START
            )
        assert mine.done_by == "agent:b"


def test_an_unknown_outcome_is_refused(sessions: sessionmaker[Session], notifier: Notifier) -> None:
    notifier.deliver(hotline("ev-1", "2611221000014", Purpose.REPLIED))
    with sessions() as session:
        (task,) = list_open_callbacks(session=session, limit=10)
        with pytest.raises(ValueError):
            update_callback_done(
                session=session, task=task, agent="agent:a", outcome="maybe", now=START
            )
        assert task.done_at is None
