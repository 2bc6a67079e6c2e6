"""The department's pages: its queue, a ticket, and the actions on it.

Each action calls the workbench API's function for it (`services.followup.views`), so the
state machine, roles and flows are exactly the API's; this module only turns forms into
bodies, and the API's refusals into a page with the message next to the form.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from feedbackloop.events import TicketState
from feedbackloop.web.forms import clean, field_errors
from services.followup import cohandling, cohandling_views, ladder, views
from services.followup.auth import Principal, Role
from services.followup.deps import Followup
from services.followup.knowledge import service as knowledge
from services.followup.knowledge.views import beijing_today
from services.followup.publication import service as publication
from services.followup.returns import REASONS as RETURN_REASONS
from services.followup.schemas import ExtensionIn, ReasonIn, ResolveIn, ReturnIn, TextIn
from services.followup.states import ALLOWED, STATE_LABELS, Action, IllegalTransition
from services.followup.web import cohandling as cohandling_web
from services.followup.web.common import HOME, Visit, VisitDep

router = APIRouter(include_in_schema=False)

Call = Callable[[str, Any, Followup, Principal], Any]


@dataclass(frozen=True)
class Act:
    """A form on the ticket page and the API function it calls."""

    action: Action
    title: str
    done: str
    call: Call
    body: type[BaseModel] | None = None
    fields: dict[str, str] = field(default_factory=dict)
    #: For a co-unit's forms: the states of its co-handling the form is shown in.
    co_states: tuple[str, ...] = ()


ACTS: dict[str, Act] = {
    "accept": Act(
        Action.ACCEPT,
        "签收",
        "已签收，请在办结时限内办理",
        lambda no, _b, f, p: views.accept(no, f, p),
    ),
    "note": Act(
        Action.NOTE,
        "添加备注",
        "备注已保存（市民看不到备注）",
        lambda no, b, f, p: views.add_note(no, b, f, p),
        TextIn,
        {"text": "备注内容"},
    ),
    "reply": Act(
        Action.REPLY,
        "答复市民",
        "答复已发送给市民",
        lambda no, b, f, p: views.add_reply(no, b, f, p),
        TextIn,
        {"text": "答复内容"},
    ),
    "resolve": Act(
        Action.RESOLVE,
        "办结",
        "已办结，系统将邀请市民回访评价",
        lambda no, b, f, p: views.resolve(no, b, f, p),
        ResolveIn,
        {"text": "办理结果"},
    ),
    "return": Act(
        Action.RETURN,
        "申请退单",
        "退单申请已提交，等待 12345 中心审核；审核前请继续负责这张工单",
        lambda no, b, f, p: views.return_ticket(no, b, f, p),
        ReturnIn,
        {"reason_code": "退单原因", "reason": "退单理由"},
    ),
    "extension": Act(
        Action.REQUEST_EXTENSION,
        "申请延期",
        "延期申请已提交，等待话务中心审批",
        lambda no, b, f, p: views.request_extension(no, b, f, p),
        ExtensionIn,
        {"working_days": "延长的工作日数", "reason": "申请理由"},
    ),
    # A request: the clocks run on until the centre approves (see `services.followup.pauses`).
    "pause": Act(
        Action.PAUSE,
        "申请暂停计时",
        "暂停申请已提交，话务中心同意前计时继续",
        lambda no, b, f, p: views.pause(no, b, f, p, Response()),
        ReasonIn,
        {"reason": "暂停理由"},
    ),
}

#: A co-handling unit's (协办单位) forms; every other action on the ticket is the lead's.
CO_ACTS: dict[str, Act] = {
    "co-accept": Act(
        Action.ACCEPT,
        "签收协办",
        "已签收协办，请在时限内向主办单位提交协办意见",
        lambda no, _b, f, p: cohandling_views.accept(no, f, p),
        co_states=("assigned",),
    ),
    "co-part": Act(
        Action.NOTE,
        "提交协办意见",
        "协办意见已提交给主办单位",
        lambda no, b, f, p: cohandling_views.submit(no, b, f, p),
        TextIn,
        {"text": "协办意见"},
        co_states=("assigned", "accepted"),
    ),
}

#: Queue filters: state (empty: every open state) and deadline.
STATE_FILTERS = {"": "全部未办结", "routed": "待签收", "accepted": "办理中", "reopened": "重新办理"}
DUE_FILTERS = {"": "全部", "overdue": "已超时", "24": "24小时内到期", "72": "3天内到期"}


@router.get(HOME)
def queue(visit: VisitDep, state: str = "", due: str = "") -> Response:
    """The queue, nearest deadline first, with its SLA states and filters."""
    principal = visit.require(Role.DEPARTMENT, Role.OPERATOR, Role.SUPERVISOR)
    state = state if state in STATE_FILTERS else ""
    due = due if due in DUE_FILTERS else ""
    tickets = views.list_queue(
        visit.desk,
        principal,
        state=[state] if state else None,
        overdue=due == "overdue",
        due_within_hours=float(due) if due.isdigit() else None,
        limit=200,
        offset=0,
    )
    co_tickets = (
        cohandling_views.list_queue(visit.desk, principal)
        if principal.role is Role.DEPARTMENT
        else []
    )
    return visit.render(
        "workbench/queue.html",
        tickets=tickets,
        co_tickets=co_tickets,
        marks=_marks(visit, [t.ticket_no for t in tickets]),
        now=datetime.now(UTC),
        state=state,
        due=due,
        state_filters=STATE_FILTERS,
        due_filters=DUE_FILTERS,
        flash=None,
    )


def _marks(visit: Visit, ticket_nos: list[str]) -> dict[str, list[ladder.Mark]]:
    """The 督办 steps (提醒, 催办, 通报) these tickets reached."""
    with visit.desk.sessions() as session:
        return ladder.list_marks(session=session, book=visit.desk.desk.book, ticket_nos=ticket_nos)


def _suggestions(visit: Visit, ticket_no: str, text: str) -> list[knowledge.Hit]:
    """相似答复参考: up to 3 articles and past replies similar to the citizen's words."""
    with visit.desk.sessions() as session:
        return knowledge.search(
            session=session, text=text, today=beijing_today(), exclude_ticket_no=ticket_no
        )


def _ticket_page(
    visit: Visit,
    ticket_no: str,
    *,
    status: int = 200,
    flash: str | None = None,
    form: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    assert visit.principal is not None
    try:
        ticket = views.get_ticket(ticket_no, visit.desk, visit.principal)
    except HTTPException as exc:
        return visit.problem(exc.status_code, "没有找到工单", str(exc.detail))
    state = TicketState(ticket.state)
    forms = {}
    mine = visit.principal.department_code
    co_unit = next((u for u in ticket.co_handlers if u.department_code == mine), None)
    if visit.principal.role is Role.DEPARTMENT and ticket.department_code == mine:
        forms = {name: act for name, act in ACTS.items() if state in ALLOWED[act.action]}
        if ticket.return_pending is not None:  # one return at a time, until the centre decides
            forms.pop("return", None)
    elif co_unit is not None and state in cohandling.WORKING:
        forms = {name: act for name, act in CO_ACTS.items() if co_unit.state in act.co_states}
    alert = None
    operator = visit.principal.role in (Role.OPERATOR, Role.SUPERVISOR)
    if form is not None and form not in forms:  # the state changed under the clerk's feet
        refused = str(IllegalTransition(ACTS[form].action, state)) if form in ACTS else None
        alert = (errors or {}).get("_") or refused
    writing = "reply" in forms or "resolve" in forms
    return visit.render(
        "workbench/ticket.html",
        suggestions=_suggestions(visit, ticket.ticket_no, ticket.text) if writing else [],
        status=status,
        ticket=ticket,
        now=datetime.now(UTC),
        state_label=STATE_LABELS[state],
        forms=forms,
        flash=flash,
        form=form,
        errors=errors or {},
        values=values or {},
        alert=alert,
        return_reasons=RETURN_REASONS,
        marks=_marks(visit, [ticket.ticket_no]).get(ticket.ticket_no, []),
        can_unlink=operator,
        co_unit=co_unit,
        co_directory=_co_directory(visit, ticket.department_code) if operator else {},
        publication=_standing(visit, ticket.ticket_no) if operator else None,
    )


def _standing(visit: Visit, ticket_no: str) -> publication.Standing | None:
    """公开: the ticket's place on the public board, for the centre's moderation form."""
    with visit.desk.sessions() as session:
        return publication.get_standing(session=session, ticket_no=ticket_no)


def _co_directory(visit: Visit, lead: str) -> dict[str, str]:
    """Units the centre can name as co-units of a ticket: all but its lead."""
    with visit.desk.sessions() as session:
        units = cohandling.list_directory(session=session)
    return {code: name for code, name in units.items() if code != lead}


@router.get(f"{HOME}/tickets/{{ticket_no}}")
def ticket_page(ticket_no: str, visit: VisitDep, done: str = "") -> Response:
    """A ticket: the citizen's words, attachments, location, timeline and the actions."""
    visit.require(Role.DEPARTMENT, Role.OPERATOR, Role.SUPERVISOR)
    act = ACTS.get(done) or CO_ACTS.get(done)
    flash = act.done if act else cohandling_web.DONE.get(done)
    return _ticket_page(visit, ticket_no[:20], flash=flash)


@router.post(f"{HOME}/tickets/{{ticket_no}}/{{action}}")
def act_on_ticket(
    ticket_no: str,
    action: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    working_days: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form(max_length=32)] = "",
    unreasonable: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Run one action; on success back to the ticket, otherwise the form with its errors."""
    principal = visit.require(Role.DEPARTMENT)
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    act = ACTS.get(action) or CO_ACTS.get(action)
    if act is None:
        return visit.problem(404, "没有这个操作", "请返回工单页面重新选择要办理的操作。")
    given = {"text": text, "reason": reason, "working_days": working_days}
    given["reason_code"] = reason_code
    values = {name: clean(given[name]) for name in act.fields}
    # The 不合理诉求 box of the resolve form: a flag, not a field shown again with an error.
    flags = {"unreasonable": unreasonable == "yes"} if act.body is ResolveIn else {}
    try:
        body = act.body.model_validate(values | flags) if act.body is not None else None
    except ValidationError as exc:
        errors = field_errors(exc, act.fields)
        return _ticket_page(visit, ticket_no, status=422, form=action, errors=errors, values=values)
    try:
        act.call(ticket_no, body, visit.desk, principal)
    except HTTPException as exc:
        return _ticket_page(
            visit,
            ticket_no,
            status=exc.status_code,
            form=action,
            errors={"_": str(exc.detail)},
            values=values,
        )
    return visit.redirect(f"{HOME}/tickets/{ticket_no}?done={action}")
