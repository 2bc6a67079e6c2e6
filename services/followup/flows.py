"""What happens to a ticket: routing, a department's work, extensions, pauses, clocks firing.

Each flow runs inside the caller's transaction: it checks the state machine, changes the
ticket, moves its clocks and records the events (audit trail and outbox) together.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from feedbackloop.events import (
    Envelope,
    FeedbackRouted,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    TicketState,
    deterministic_event_id,
)
from services.followup import clocks, cohandling, direct, ladder, merges, repeats, service, surveys
from services.followup.calendar import BEIJING, WorkingCalendar
from services.followup.models import Ticket
from services.followup.publication import service as publication
from services.followup.sla import SlaBook
from services.followup.states import Action, check

K = TicketEventKind

METHOD_LABELS = {"rule": "规则", "model": "模型", "manual": "人工", "default": "默认"}


@dataclass
class Desk:
    """What the flows need besides the store: the SLA policies and the working calendar."""

    book: SlaBook
    calendar: WorkingCalendar
    #: How repeat callers are found; None: every item is a ticket of its own.
    repeat_rules: repeats.RepeatRules | None = None


def apply_routing(
    *, session: Session, desk: Desk, routed: Envelope[FeedbackRouted], now: datetime
) -> Envelope[TicketEvent] | None:
    """Open a ticket for a routing decision, or re-route it; once per event id.

    An item the router was unsure about opens in state `triage` at the dispatch desk; the
    operator's later assignment (or a re-routing after a return) arrives as another decision.
    """
    if service.count_processed(session=session, event_id=routed.id):
        return None
    service.create_processed(session=session, event_id=routed.id, now=now)
    decision = routed.data
    item = decision.feedback
    if item.direct_answer is not None:  # 直接答复: closed at once, see services/followup/direct.py
        return direct.answer(session=session, routed=routed)
    ticket = session.get(Ticket, item.ticket_id)
    triage = decision.method is RoutingMethod.TRIAGE
    state_to = TicketState.TRIAGE if triage else TicketState.ROUTED
    if ticket is not None:
        check(Action.ROUTE, TicketState(ticket.state))
    if triage:
        reason = f"模型把握不足（{decision.confidence:.0%}），转{decision.department_name}人工分派"
    else:
        label = METHOD_LABELS.get(decision.method.value, decision.method.value)
        reason = f"派单至{decision.department_name}（{label}）"
    state_from = None if ticket is None else ticket.state
    if ticket is None:
        ticket = service.create_ticket(
            session=session,
            item=item,
            caller_key=repeats.caller_key(item.contact, contact_key=desk.repeat_rules.contact_key)
            if desk.repeat_rules
            else None,
        )
    if decision.duplicate_of and decision.duplicate_of != ticket.ticket_no:
        ticket.duplicate_of = decision.duplicate_of  # the 并单 suggestion, for the console
    ticket.state = state_to.value
    ticket.priority = decision.priority.value
    ticket.category = decision.category
    ticket.department_code = decision.department_code
    ticket.department_name = decision.department_name
    ticket.routing_method = decision.method.value
    ticket.routing_confidence = decision.confidence
    ticket.routed_at = decision.routed_at
    ticket.policy = desk.book.policy_for(
        priority=ticket.priority,
        category=ticket.category,
        department=ticket.department_code,
        complex_=ticket.complex,
    ).name
    session.flush()
    if state_from is None and not triage and not item.split_from and desk.repeat_rules:
        master = repeats.find_master(session=session, rules=desk.repeat_rules, ticket=ticket)
        if master is not None:
            return repeats.link(
                session=session,
                ticket=ticket,
                master=master,
                now=decision.routed_at,
                event_id=deterministic_event_id(routed.id, "applied"),
            )
    # Clocks run from receipt: the citizen waits from the moment they spoke. A re-routed
    # ticket keeps its resolution deadline; the new department's response clock restarts.
    clocks.update_stopped(session=session, ticket=ticket, kinds=("response",), now=now)
    if not triage:
        clocks.create_limit(
            session=session,
            book=desk.book,
            calendar=desk.calendar,
            ticket=ticket,
            kind="response",
            at=decision.routed_at if state_from else item.received_at,
        )
    if state_from is None:
        clocks.create_limit(
            session=session,
            book=desk.book,
            calendar=desk.calendar,
            ticket=ticket,
            kind="resolution",
            at=item.received_at,
        )
    actor = f"operator:{decision.assigned_by}" if decision.assigned_by else "system"
    event = service.create_event(
        session=session,
        ticket=ticket,
        kind=K.OPENED if state_from is None else K.REROUTED,
        state_from=state_from,
        actor=actor,
        reason=reason,
        now=decision.routed_at,
        event_id=deterministic_event_id(routed.id, "applied"),
    )
    if not triage:
        cohandling.update_lead(session=session, ticket=ticket, actor=actor, now=now)
        cohandling.assign(
            session=session,
            book=desk.book,
            calendar=desk.calendar,
            ticket=ticket,
            units=[(u.department_code, u.department_name) for u in decision.co_handlers],
            actor=actor,
            now=decision.routed_at,
            cause=routed.id,
        )
    return event


def _transition(
    session: Session,
    ticket: Ticket,
    action: Action,
    state_to: TicketState | None,
    kind: TicketEventKind,
    actor: str,
    reason: str | None,
    now: datetime,
) -> Envelope[TicketEvent]:
    state_from = ticket.state
    check(action, TicketState(state_from))
    if state_to is not None:
        ticket.state = state_to.value
    return service.create_event(
        session=session,
        ticket=ticket,
        kind=kind,
        state_from=state_from,
        actor=actor,
        reason=reason,
        now=now,
    )


def accept(*, session: Session, ticket: Ticket, actor: str, now: datetime) -> Envelope[TicketEvent]:
    """签收: the department takes the ticket on; the response limit is met."""
    event = _transition(
        session,
        ticket,
        Action.ACCEPT,
        TicketState.ACCEPTED,
        K.ACCEPTED,
        actor,
        f"{ticket.department_name}已签收",
        now,
    )
    ticket.accepted_at = now
    clocks.update_stopped(session=session, ticket=ticket, kinds=("response",), now=now)
    return event


def note(
    *, session: Session, ticket: Ticket, actor: str, text: str, now: datetime
) -> Envelope[TicketEvent]:
    """An internal note on the ticket (not sent to the citizen)."""
    return _transition(session, ticket, Action.NOTE, None, K.NOTED, actor, text, now)


def reply(
    *, session: Session, ticket: Ticket, actor: str, text: str, now: datetime
) -> Envelope[TicketEvent]:
    """A reply to the citizen while the work goes on (sent on their channel)."""
    return _transition(session, ticket, Action.REPLY, None, K.REPLIED, actor, text, now)


def resolve(
    *,
    session: Session,
    desk: Desk,
    ticket: Ticket,
    actor: str,
    text: str,
    now: datetime,
    unreasonable: bool = False,
) -> Envelope[TicketEvent]:
    """办结: the department says it is done and tells the citizen how; the survey is scheduled.

    With `unreasonable`, the unit also marks the request 不合理诉求 (the reply is its reason);
    the centre decides (`services.followup.unreasonable.review`) whether it leaves the rates.
    """
    check(Action.RESOLVE, TicketState(ticket.state))
    pending = cohandling.list_pending(session=session, ticket_id=ticket.id)
    if pending:
        names = "、".join(u.department_name for u in pending)
        raise cohandling.CoHandlingError(f"协办单位尚未提交协办意见：{names}")
    state_from = ticket.state
    ticket.state = TicketState.RESOLVED.value
    if unreasonable:
        ticket.unreasonable, ticket.unreasonable_reason = "claimed", text
    event = service.create_event(
        session=session,
        ticket=ticket,
        kind=K.RESOLVED,
        state_from=state_from,
        actor=actor,
        reason=text,
        now=now,
        unreasonable="claimed" if unreasonable else None,
    )
    ticket.resolved_at = now
    ticket.reply = text
    clocks.update_stopped(session=session, ticket=ticket, kinds=clocks.LIMITS, now=now)
    survey_delay = timedelta(hours=desk.book.survey_delay_hours)
    clocks.create_timer(
        session=session, ticket=ticket, kind=clocks.SURVEY_INVITE, due_at=now + survey_delay
    )
    merges.follow(session=session, master=ticket, survey_delay=survey_delay, now=now)
    publication.sync(session=session, ticket=ticket, actor="system", now=now)  # 公开, if agreed
    return event


def request_extension(
    *, session: Session, ticket: Ticket, actor: str, working_days: int, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """延期申请: a department asks for more working days; an operator decides."""
    check(Action.REQUEST_EXTENSION, TicketState(ticket.state))
    if service.get_pending_extension(session=session, ticket_id=ticket.id) is not None:
        raise ValueError("这张工单已有待审批的延期申请，请等待审批结果")
    service.create_extension_request(
        session=session,
        ticket=ticket,
        working_days=working_days,
        reason=reason,
        actor=actor,
        now=now,
    )
    return _transition(
        session,
        ticket,
        Action.REQUEST_EXTENSION,
        None,
        K.EXTENSION_REQUESTED,
        actor,
        f"申请延期{working_days}个工作日：{reason}",
        now,
    )


def decide_extension(
    *, session: Session, desk: Desk, ticket: Ticket, actor: str, approve: bool, now: datetime
) -> Envelope[TicketEvent]:
    """An operator approves (the deadline moves) or rejects a pending extension request."""
    check(Action.DECIDE_EXTENSION, TicketState(ticket.state))
    request = service.get_pending_extension(session=session, ticket_id=ticket.id)
    if request is None:
        raise LookupError("这张工单没有待审批的延期申请")
    request.approved, request.decided_by, request.decided_at = approve, actor, now
    if not approve:
        return _transition(
            session,
            ticket,
            Action.DECIDE_EXTENSION,
            None,
            K.EXTENSION_REJECTED,
            actor,
            "延期申请未获批准",
            now,
        )
    due = clocks.update_extended(
        session=session,
        book=desk.book,
        calendar=desk.calendar,
        ticket=ticket,
        working_days=request.working_days,
        now=now,
    )
    local = due.astimezone(BEIJING)
    return _transition(
        session,
        ticket,
        Action.DECIDE_EXTENSION,
        None,
        K.EXTENDED,
        actor,
        f"同意延期{request.working_days}个工作日，办结时限顺延至{local:%Y-%m-%d %H:%M}",
        now,
    )


def pause(
    *, session: Session, ticket: Ticket, actor: str, reason: str, now: datetime
) -> Envelope[TicketEvent]:
    """Stop the clocks while waiting on the citizen (e.g. for a site visit they must attend)."""
    check(Action.PAUSE, TicketState(ticket.state))
    if not clocks.update_paused(session=session, ticket=ticket, now=now):
        raise ValueError("计时已经暂停")
    return _transition(session, ticket, Action.PAUSE, None, K.PAUSED, actor, reason, now)


def resume(
    *, session: Session, desk: Desk, ticket: Ticket, actor: str, now: datetime
) -> Envelope[TicketEvent]:
    """Start the clocks again; deadlines move by the time they stood still."""
    check(Action.RESUME, TicketState(ticket.state))
    resumed = clocks.update_resumed(
        session=session, book=desk.book, calendar=desk.calendar, ticket=ticket, now=now
    )
    if not resumed:
        raise ValueError("计时没有暂停")
    return _transition(session, ticket, Action.RESUME, None, K.RESUMED, actor, "恢复计时", now)


def fire_due_clocks(*, session: Session, desk: Desk, now: datetime, limit: int = 200) -> int:
    """Fire every clock moment that has come (each once); how many fired."""
    fired = 0
    for due in clocks.list_due(session=session, now=now, limit=limit):
        clock = due.clock
        ticket = session.get(Ticket, clock.ticket_id)
        assert ticket is not None
        clocks.update_fired(clock=clock, moment=due.moment, now=now)
        cause = f"clock/{clock.id}/{due.moment}/{clock.due_at.isoformat()}"
        if clock.kind in clocks.LIMITS:
            _limit_moment(session, desk, ticket, clock.kind, due.moment, cause, now)
        elif clock.kind == clocks.SURVEY_INVITE:
            surveys.invite(session=session, desk_book=desk.book, ticket=ticket, now=now)
        elif clock.kind == clocks.SURVEY_EXPIRY:
            surveys.expire(session=session, ticket=ticket, now=now)
        elif clock.kind in cohandling.CLOCKS:
            cohandling.fire(session=session, ticket=ticket, clock=clock, cause=cause, now=now)
        elif ladder.is_step(clock.kind):
            ladder.fire(
                session=session, book=desk.book, ticket=ticket, clock=clock, cause=cause, now=now
            )
        fired += 1
    return fired


_LIMIT_LABELS = {"response": "签收", "resolution": "办结"}


def _limit_moment(
    session: Session,
    desk: Desk,
    ticket: Ticket,
    kind: str,
    moment: str,
    cause: str,
    now: datetime,
) -> None:
    label = _LIMIT_LABELS[kind]
    if moment == "warning":
        service.create_event(
            session=session,
            ticket=ticket,
            kind=K.WARNED,
            state_from=ticket.state,
            actor="system",
            reason=f"催办：{label}时限已过{desk.book.warning_at:.0%}",
            now=now,
            event_id=deterministic_event_id(ticket.id, cause),
            clock=kind,
        )
        return
    service.create_event(
        session=session,
        ticket=ticket,
        kind=K.BREACHED,
        state_from=ticket.state,
        actor="system",
        reason=f"超时：{label}时限已到",
        now=now,
        event_id=deterministic_event_id(ticket.id, cause),
        clock=kind,
    )
    service.create_event(
        session=session,
        ticket=ticket,
        kind=K.ESCALATED,
        state_from=ticket.state,
        actor="system",
        reason=f"督办：{label}超时，已提请{desk.book.supervisor}督办",
        now=now,
        event_id=deterministic_event_id(ticket.id, cause + "/escalated"),
        clock=kind,
    )
