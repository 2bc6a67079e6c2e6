"""Callback surveys (回访): signed single-use links, answers, reopening, no response.

A link carries `<survey id>.<expiry>.<signature>`, signed by itsdangerous: HMAC-SHA256 over
the id and expiry with the survey secret, so a link cannot be forged or stretched. The MAC
is cut to 18 bytes so the link fits an SMS, as links sent before itsdangerous were. A
survey is answered once: the stored answer, not the link, decides whether it is used.
"""

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from itsdangerous import BadSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Channel,
    Envelope,
    Priority,
    TicketEvent,
    TicketEventKind,
    TicketState,
)
from feedbackloop.web.signing import link_signer
from services.followup import clocks, service
from services.followup.models import Survey, Ticket
from services.followup.publication import service as publication
from services.followup.sla import SlaBook
from services.followup.states import Action, check

K = TicketEventKind


class Solved(StrEnum):
    """Was the problem solved? (是否解决)"""

    SOLVED = "solved"
    PARTLY = "partly"
    NOT = "not"


class Satisfaction(StrEnum):
    """How satisfied the citizen is (满意度)."""

    SATISFIED = "satisfied"
    BASICALLY = "basically"
    DISSATISFIED = "dissatisfied"


SOLVED_LABELS = {Solved.SOLVED: "已解决", Solved.PARTLY: "部分解决", Solved.NOT: "未解决"}
SATISFACTION_LABELS = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASICALLY: "基本满意",
    Satisfaction.DISSATISFIED: "不满意",
}
#: The first question of the survey (是否联系), as the page asks it.
CONTACTED_OPTIONS = {"yes": "是，承办单位与我联系过", "no": "否，没有人与我联系"}


class SurveyLinkError(Exception):
    """A survey link that cannot be used; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


NOT_BY_PHONE = (
    "这张工单的回访由市民通过短信或微信中的评价链接完成，只有热线来电的工单才由话务员电话回访"
    "并录入结果"
)


def by_phone(ticket: Ticket) -> bool:
    """Whether a ticket's survey goes by a phone callback (hotline calls; others get a link)."""
    return ticket.channel == Channel.HOTLINE.value


def create_token(*, secret: str, survey: Survey) -> str:
    """The signed token of a survey link (a MAC of 18 bytes: 24 characters)."""
    return (
        link_signer(secret, size=18)
        .sign(f"{survey.id}.{int(survey.expires_at.timestamp())}")
        .decode()
    )


def read_token(*, secret: str, token: str, now: datetime) -> str:
    """The survey id a token stands for; SurveyLinkError if forged, malformed or expired."""
    parts = token.split(".")
    # itsdangerous skips non-ASCII characters in a signature, so such a token never gets there.
    if len(parts) != 3 or not token.isascii() or not parts[1].isdigit():
        raise SurveyLinkError(404, "评价链接无效，请使用短信或微信中收到的完整链接")
    try:
        link_signer(secret, size=18).unsign(token)
    except BadSignature:
        raise SurveyLinkError(404, "评价链接无效，请使用短信或微信中收到的完整链接") from None
    survey_id, expiry, _signature = parts
    if now.timestamp() > int(expiry):
        raise SurveyLinkError(410, "评价链接已过期，感谢您的关注；如仍有问题请重新反映")
    return survey_id


def get_survey(*, session: Session, survey_id: str) -> Survey | None:
    """A survey by id."""
    return session.get(Survey, survey_id)


def invite(
    *, session: Session, desk_book: SlaBook, ticket: Ticket, now: datetime
) -> Envelope[TicketEvent] | None:
    """Open a survey round for a resolved ticket and ask the citizen (None if not resolved)."""
    if ticket.state != TicketState.RESOLVED.value:
        return None
    survey = Survey(
        id=str(uuid.uuid4()),
        ticket_id=ticket.id,
        round=ticket.reopen_count + 1,
        invited_at=now,
        expires_at=now + timedelta(hours=desk_book.survey_window_hours),
    )
    session.add(survey)
    clocks.create_timer(
        session=session, ticket=ticket, kind=clocks.SURVEY_EXPIRY, due_at=survey.expires_at
    )
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=K.SURVEY_INVITED,
        state_from=ticket.state,
        actor="system",
        reason=f"回访邀请已发出（第{survey.round}轮）",
        now=now,
    )


def get_open_survey(*, session: Session, ticket: Ticket) -> Survey | None:
    """The survey round of a ticket still waiting for an answer, if any."""
    stmt = (
        select(Survey)
        .where(Survey.ticket_id == ticket.id, Survey.answered_at.is_(None))
        .order_by(Survey.invited_at.desc())
    )
    return session.execute(stmt).scalars().first()


def answer(
    *,
    session: Session,
    book: SlaBook,
    survey: Survey,
    ticket: Ticket,
    solved: Solved,
    satisfaction: Satisfaction,
    comment: str | None,
    actor: str,
    now: datetime,
    contacted: bool | None = None,
) -> list[Envelope[TicketEvent]]:
    """Record an answer; dissatisfaction reopens the ticket (or escalates), else it closes.

    A request the centre found unreasonable (不合理诉求) is closed whatever the answer.
    """
    if survey.answered_at is not None:
        raise SurveyLinkError(409, "您已经评价过了，感谢您的反馈")
    if survey.expires_at <= now:
        raise SurveyLinkError(410, "评价链接已过期，感谢您的关注；如仍有问题请重新反映")
    check(Action.SURVEY, TicketState(ticket.state))
    survey.answered_at, survey.answered_by = now, actor
    survey.solved, survey.satisfaction, survey.comment = solved.value, satisfaction.value, comment
    survey.contacted = contacted
    clocks.update_stopped(session=session, ticket=ticket, kinds=(clocks.SURVEY_EXPIRY,), now=now)
    state_from = ticket.state
    ticket.state = TicketState.SURVEYED.value
    words = f"{SOLVED_LABELS[solved]}，{SATISFACTION_LABELS[satisfaction]}"
    if contacted is not None:
        words = f"{'单位已联系' if contacted else '单位未联系'}，{words}"
    events = [
        service.create_event(
            session=session,
            ticket=ticket,
            kind=K.SURVEYED,
            state_from=state_from,
            actor=actor,
            reason=words + (f"：{comment}" if comment else ""),
            now=now,
            solved=solved.value,
            satisfaction=satisfaction.value,
            contacted=contacted,
        )
    ]
    unhappy = solved is Solved.NOT or satisfaction is Satisfaction.DISSATISFIED
    if ticket.unreasonable == "accepted":
        reason = "经12345中心认定为不合理诉求，评价后结案"
        events.append(_close(session, ticket, actor="system", reason=reason, now=now))
    elif not unhappy:
        events.append(_close(session, ticket, actor="system", reason="市民评价后结案", now=now))
    elif ticket.reopen_count < book.max_reopens:
        events.append(_reopen(session, book, ticket, words, now))
    else:
        events.append(
            service.create_event(
                session=session,
                ticket=ticket,
                kind=K.ESCALATED,
                state_from=ticket.state,
                actor="system",
                now=now,
                reason=f"已重新办理{ticket.reopen_count}次仍{words}，提请{book.supervisor}督办",
            )
        )
    # 公开: the board shows the survey's result next to the answer.
    shown = publication.sync(session=session, ticket=ticket, actor="system", now=now)
    return events + ([shown] if shown is not None else [])


def expire(*, session: Session, ticket: Ticket, now: datetime) -> Envelope[TicketEvent] | None:
    """Nobody answered within the window: record no response and close the ticket."""
    survey = get_open_survey(session=session, ticket=ticket)
    if survey is None or ticket.state != TicketState.RESOLVED.value:
        return None
    survey.satisfaction = "no_response"
    survey.answered_at = now
    survey.answered_by = "system"
    service.create_event(
        session=session,
        ticket=ticket,
        kind=K.NO_RESPONSE,
        state_from=ticket.state,
        actor="system",
        reason="回访期内未收到评价",
        now=now,
        satisfaction="no_response",
    )
    return _close(session, ticket, actor="system", reason="回访无应答，结案", now=now)


def _close(
    session: Session, ticket: Ticket, *, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    state_from = ticket.state
    check(Action.CLOSE, TicketState(state_from))
    ticket.state = TicketState.CLOSED.value
    ticket.closed_at = now
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=K.CLOSED,
        state_from=state_from,
        actor=actor,
        reason=reason,
        now=now,
    )


_RAISED = {Priority.NORMAL.value: Priority.HIGH.value}


def _reopen(
    session: Session, book: SlaBook, ticket: Ticket, words: str, now: datetime
) -> Envelope[TicketEvent]:
    state_from = ticket.state
    check(Action.REOPEN, TicketState(state_from))
    ticket.state = TicketState.REOPENED.value
    ticket.reopen_count += 1
    ticket.priority = _RAISED.get(ticket.priority, ticket.priority)
    ticket.resolved_at = None
    calendar = book.calendar()
    # Worked again from now, under the policy of the raised priority.
    ticket.policy = book.policy_for(
        priority=ticket.priority,
        category=ticket.category,
        department=ticket.department_code,
        complex_=ticket.complex,
    ).name
    for kind in clocks.LIMITS:
        clocks.create_limit(
            session=session, book=book, calendar=calendar, ticket=ticket, kind=kind, at=now
        )
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=K.REOPENED,
        state_from=state_from,
        actor="system",
        reason=f"市民评价{words}，退回{ticket.department_name}重新办理（第{ticket.reopen_count}次）",
        now=now,
    )


def close_by_supervisor(
    *, session: Session, ticket: Ticket, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """A supervisor closes an escalated ticket after handling it."""
    return _close(session, ticket, actor=actor, reason=reason, now=now)


def survey_link(*, base_url: str, secret: str, survey: Survey) -> str:
    """The link a citizen opens to answer a survey."""
    return f"{base_url.rstrip('/')}/s/{create_token(secret=secret, survey=survey)}"
