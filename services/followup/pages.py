"""Citizen pages: ticket status (/t/{ticket_no}) and the callback survey (/s/{token}).

Neither shows personal data: the status page gives state, department and timeline only,
in words for people; the survey page shows the department's reply. A ticket number alone
shows the state and the handling unit; the rest needs the status link's secret (`?k=`),
and every lookup counts against the client's per-minute budget (see `lookups`).
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

from feedbackloop.events import TicketState
from feedbackloop.web.rates import RateLimited
from services.followup import lookups, repeats, service, surveys
from services.followup.calendar import BEIJING
from services.followup.deps import FollowupDep
from services.followup.models import Ticket
from services.followup.schemas import PublicTicket, TicketGlimpse, public_ticket, ticket_glimpse
from services.followup.states import STATE_LABELS, IllegalTransition
from services.followup.surveys import (
    CONTACTED_OPTIONS,
    SATISFACTION_LABELS,
    SOLVED_LABELS,
    Satisfaction,
    Solved,
    SurveyLinkError,
)

router = APIRouter()

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the survey token must not leak to other sites
}
#: What the citizen reads for each step of the timeline (internal notes are left out).
STEP_LABELS = {
    "answered_directly": "已依据知识库直接答复您的咨询",
    "opened": "已派单至承办单位",
    "rerouted": "已改派承办单位",
    "accepted": "承办单位已签收",
    "replied": "承办单位已答复",
    "resolved": "承办单位已办结",
    "returned": "承办单位申请退回，正在改派",
    "extension": "办理时限已延长",
    "paused": "等待您补充情况，计时暂停",
    "resumed": "恢复办理",
    "warned": "已催办",
    "escalated": "已督办",
    "survey_invited": "已邀请您评价",
    "surveyed": "已收到您的评价",
    "reopened": "重新办理",
    "no_response": "回访期内未收到评价",
    "merged": "与您此前反映的问题相同，已并入原工单一并办理",
    "closed": "已结案",
    "published": "已在公开栏公开（已隐去个人信息）",
    "unpublished": "已从公开栏撤下",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _render(
    name: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def _local(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


#: The status link's secret; anything else (or nothing) shows the state and the unit only.
SecretQuery = Annotated[str | None, Query(alias="k", description="状态链接中的密钥")]


@router.get(
    "/api/v1/tickets/{ticket_no}",
    response_model=PublicTicket | TicketGlimpse,
    summary="查询工单 — status",
    responses={429: {"description": "Too many lookups from this address; see Retry-After"}},
)
def get_status(
    ticket_no: str, request: Request, followup: FollowupDep, k: SecretQuery = None
) -> PublicTicket | TicketGlimpse:
    """A ticket's state and handling unit by number; the whole ticket with its link's `k`."""
    try:
        lookups.check_status_lookup(request, followup.settings)
    except RateLimited as exc:
        raise lookups.too_many(exc) from exc
    number = ticket_no.strip()
    with followup.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=number)
        if ticket is None:
            raise HTTPException(
                404, f"没有找到工单 {ticket_no}，请核对工单号；刚提交的工单可能需要几秒钟才能查到"
            )
        if not lookups.shows_all(followup.settings, ticket.ticket_no, k):
            return ticket_glimpse(ticket)
        return public_ticket(session, ticket)


@router.get("/t/{ticket_no}", response_class=HTMLResponse, summary="工单进度页")
def status_page(
    ticket_no: str, request: Request, followup: FollowupDep, k: SecretQuery = None
) -> HTMLResponse:
    """The citizen's status page for the link they got at intake (`k` is its secret)."""
    try:
        lookups.check_status_lookup(request, followup.settings)
    except RateLimited as exc:
        return _render(
            "message.html",
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
            title="查询太频繁",
            message=lookups.TOO_MANY.format(exc.retry_after) + "。",
        )
    with followup.sessions() as session:
        ticket = service.get_ticket(session=session, ticket_no=ticket_no.strip()[:20])
        if ticket is None:
            return _render(
                "message.html",
                status=404,
                title="没有找到工单",
                message="请核对工单号；刚提交的诉求可能需要几秒钟才能查到。",
            )
        state_label = STATE_LABELS[TicketState(ticket.state)]
        if not lookups.shows_all(followup.settings, ticket.ticket_no, k):
            return _render("status.html", ticket=ticket, state_label=state_label, full=False)
        timeline = service.get_timeline(session=session, ticket_id=ticket.id)
        steps = [
            {"iso": e.occurred_at.isoformat(), "at": _local(e.occurred_at), "label": label}
            for e in timeline
            if (label := STEP_LABELS.get(e.kind))
        ]
        return _render(
            "status.html",
            ticket=ticket,
            state_label=state_label,
            full=True,
            due=_local(ticket.due_at),
            timeline=steps,
            master=repeats.master_of(session=session, ticket=ticket),
            secret=k,
        )


def _survey_context(followup: Any, token: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    survey_id = surveys.read_token(secret=followup.settings.survey_secret, token=token, now=now)
    with followup.sessions() as session:
        survey = surveys.get_survey(session=session, survey_id=survey_id)
        if survey is None:
            raise SurveyLinkError(404, "评价链接无效，请使用短信或微信中收到的完整链接")
        if survey.answered_at is not None:
            raise SurveyLinkError(409, "您已经评价过了，感谢您的反馈")
        ticket = session.get(Ticket, survey.ticket_id)
        assert ticket is not None
        return {
            "token": token,
            "ticket_no": ticket.ticket_no,
            "department_name": ticket.department_name,
            "reply": ticket.reply,
            "contacted_options": list(CONTACTED_OPTIONS.items()),
            "solved_options": [(k.value, v) for k, v in SOLVED_LABELS.items()],
            "satisfaction_options": [(k.value, v) for k, v in SATISFACTION_LABELS.items()],
            "survey_id": survey_id,
        }


def _link_problem(exc: SurveyLinkError) -> HTMLResponse:
    titles = {404: "链接无效", 409: "已经评价过了", 410: "链接已过期"}
    return _render(
        "message.html",
        status=exc.status,
        title=titles.get(exc.status, "无法评价"),
        message=str(exc),
    )


@router.get("/s/{token}", response_class=HTMLResponse, summary="回访评价页")
def survey_page(token: str, followup: FollowupDep) -> HTMLResponse:
    """The callback survey for a signed, single-use, expiring link."""
    try:
        context = _survey_context(followup, token[:200])
    except SurveyLinkError as exc:
        return _link_problem(exc)
    return _render("survey.html", chosen={}, error=None, **context)


@router.post("/s/{token}", response_class=HTMLResponse, summary="提交回访评价")
def answer_survey(
    token: str,
    followup: FollowupDep,
    solved: Annotated[str, Form(max_length=16)] = "",
    satisfaction: Annotated[str, Form(max_length=16)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    contacted: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    """Record the citizen's answers to the three questions; dissatisfaction reopens the ticket."""
    try:
        context = _survey_context(followup, token[:200])
    except SurveyLinkError as exc:
        return _link_problem(exc)
    chosen = {
        "contacted": contacted,
        "solved": solved,
        "satisfaction": satisfaction,
        "comment": comment,
    }
    if (
        contacted not in CONTACTED_OPTIONS
        or solved not in {s.value for s in Solved}
        or satisfaction not in {s.value for s in Satisfaction}
    ):
        error = "请回答全部三个问题：单位是否与您联系、问题是否解决、您是否满意"
        return _render("survey.html", status=422, chosen=chosen, error=error, **context)
    if len(comment.strip()) > 500:
        error = "意见建议请控制在500字以内"
        return _render("survey.html", status=422, chosen=chosen, error=error, **context)
    now = datetime.now(UTC)
    try:
        with followup.sessions.begin() as session:
            survey = surveys.get_survey(session=session, survey_id=context["survey_id"])
            assert survey is not None
            ticket = service.get_ticket_for(
                session=session, ticket_no=context["ticket_no"], department_code=None, lock=True
            )
            assert ticket is not None
            surveys.answer(
                session=session,
                book=followup.desk.book,
                survey=survey,
                ticket=ticket,
                solved=Solved(solved),
                satisfaction=Satisfaction(satisfaction),
                comment=comment.strip() or None,
                actor="citizen",
                now=now,
                contacted=contacted == "yes",
            )
            redo = ticket.state == TicketState.REOPENED.value
    except SurveyLinkError as exc:
        return _link_problem(exc)
    except IllegalTransition:
        return _link_problem(SurveyLinkError(409, "这张工单目前不在评价阶段"))
    followup.wake_relay()
    return _render(
        "message.html",
        title="感谢您的评价",
        message="您的评价已收到。" + ("我们会督促承办单位重新办理。" if redo else ""),
    )
