"""The 12345 agent's page (坐席页面, `/agent`): answer a caller's question at once, or file it.

An agent on a call types the caller's question and sees the knowledge base's hits: the
departments' articles first, then replies to similar answered tickets (for reference). One
click on an article answers directly (直接答复): the item is filed as a consultation carrying
the article, and followup closes it at once. When nothing fits, the agent files it for a
department as usual, with the request type (诉求类型) they heard.

Agents sign in with an intake credential of kind `agent` (`feedbackloop intake
add-credential --kind agent`), kept in a signed session cookie; every form carries a CSRF
token. Each rendering of the form carries a random token too: it is the item's channel
reference, so a double click or a reloaded POST gives the first ticket again. With followup
down or slow, the page says so and filing works as ever.
"""

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from feedbackloop.events import Channel, DirectAnswer, RequestType
from feedbackloop.web.credentials import split_token
from feedbackloop.web.pages import Pages
from feedbackloop.web.sessions import SessionCookies
from feedbackloop.web.visits import PageExit, Visit
from services.intake import service
from services.intake.credentials import Holder, Kind
from services.intake.deps import Intake, IntakeDep
from services.intake.direct_answers import ArticleGone, Lookup, answer_with, look_up
from services.intake.flows import accept_item
from services.intake.knowledge import KnowledgeUnavailable
from services.intake.limits import RateLimited
from services.intake.models import Credential
from services.intake.schemas import clean_text, normalise_phone

router = APIRouter(include_in_schema=False)
HOME = "/agent"
LOGIN = "/agent/login"
COOKIE = "feedbackloop_agent"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_QUESTION = 2000
TYPE_LABELS = {
    RequestType.CONSULTATION: "咨询",
    RequestType.HELP: "求助",
    RequestType.COMPLAINT: "投诉",
    RequestType.REPORT: "举报",
    RequestType.SUGGESTION: "建议",
}
KB_DOWN = "知识库暂时无法访问，请直接登记派单；通话结束后可再查看知识库。"
ARTICLE_GONE = "这篇知识库文章已停用或不在有效期内，请另选一篇，或直接登记派单。"
STALE = "页面已过期，请重新检索后再提交。"

_pages: Pages | None = None


def pages() -> Pages:
    """The agent page's templates (read the first time a page is shown)."""
    global _pages
    if _pages is None:
        _pages = Pages(TEMPLATES)
        _pages.env.globals.update(type_labels=TYPE_LABELS)
    return _pages


@dataclass(frozen=True)
class Agent:
    """The agent signed in."""

    credential_id: str
    name: str

    @property
    def actor(self) -> str:
        """How the ticket's audit trail names the agent."""
        return f"agent:{self.name}"


def _agent(intake: Intake, credential_id: object) -> Agent | None:
    if not isinstance(credential_id, str):
        return None
    with intake.sessions() as session:
        row = session.get(Credential, credential_id)
    if row is None or row.revoked_at is not None or row.kind != Kind.AGENT:
        return None  # revoked since signing in: out at once
    return Agent(credential_id=row.id, name=row.name)


def _visit(request: Request, intake: IntakeDep) -> Visit:
    settings = intake.settings
    cookies = SessionCookies(secret=settings.session_secret, cookie_name=COOKIE)
    session = cookies.read(request)
    visit = Visit(
        request=request,
        cookies=cookies,
        session=session,
        pages=pages(),
        problem_template="agent/problem.html",
    )
    if not settings.agent_pages_open:
        raise PageExit(
            visit.problem(
                503,
                "坐席页面未启用",
                "管理员尚未设置 FEEDBACKLOOP_INTAKE_SESSION_SECRET，坐席页面暂不可用；"
                "来电请通过话务系统登记。",
            )
        )
    visit.principal = _agent(intake, (session.user or {}).get("credential_id"))
    return visit


VisitDep = Annotated[Visit, Depends(_visit)]
Text = Annotated[str, Form(max_length=20_000)]
Short = Annotated[str, Form(max_length=200)]


def _require(visit: Visit) -> Agent:
    if visit.principal is None:
        raise PageExit(visit.redirect(LOGIN))
    agent: Agent = visit.principal
    return agent


@dataclass
class Call:
    """What the agent typed about the call, checked; `errors` by field name."""

    question: str
    caller_number: str
    request_type: str
    token: str
    errors: dict[str, str]
    phone: str | None = None
    #: 同意公开: "yes" once the agent asked and the caller agreed; anything else is no.
    publication: str = ""

    @property
    def chosen_type(self) -> RequestType | None:
        return RequestType(self.request_type) if self.request_type else None


def _call(
    question: str, caller_number: str, request_type: str, token: str, publication: str = ""
) -> Call:
    call = Call(clean_text(question).strip(), caller_number.strip(), request_type, token, {})
    call.publication = "yes" if publication == "yes" else ""
    if not call.question:
        call.errors["question"] = "请填写来电人反映的问题"
    elif len(call.question) > MAX_QUESTION:
        call.errors["question"] = f"问题描述太长，最多 {MAX_QUESTION} 个字"
    if call.caller_number:
        try:
            call.phone = normalise_phone(call.caller_number)
        except ValueError as exc:
            call.errors["caller_number"] = str(exc)
    if request_type and request_type not in {t.value for t in RequestType}:
        call.errors["request_type"] = "请从列表中选择诉求类型"
        call.request_type = ""
    if not FORM_TOKEN.fullmatch(token):
        call.errors["form"] = STALE
        call.token = secrets.token_urlsafe(18)
    return call


def _desk(visit: Visit, call: Call | None, *, status: int = 200, **context: Any) -> Response:
    fresh = call or Call("", "", "", secrets.token_urlsafe(18), {})
    return visit.render("agent/desk.html", status=status, call=fresh, **context)


@router.get(LOGIN)
def login_page(visit: VisitDep, bye: bool = False) -> Response:
    """The sign-in form (or straight on, for an agent signed in already)."""
    if visit.principal is not None:
        return visit.redirect(HOME)
    return visit.render("agent/login.html", bye=bye, error=None)


@router.post(LOGIN)
def login(visit: VisitDep, intake: IntakeDep, token: Short = "", csrf: Short = "") -> Response:
    """Check the agent's credential; a good one starts a new signed session."""
    visit.check_csrf(csrf)
    parsed = split_token(token.strip()) if token.strip() else None
    holder = intake.systems.verify(parsed, kind=Kind.AGENT) if parsed else None
    if holder is None:
        message = (
            "访问凭证不正确或已停用，请核对后重新输入"
            "（凭证由管理员用 add-credential --kind agent 生成）"
            if token.strip()
            else "请输入您的坐席访问凭证"
        )
        return visit.render(
            "agent/login.html", status=401 if token else 422, bye=False, error=message
        )
    visit.session = visit.cookies.sign_in({"credential_id": holder.credential_id})
    return visit.redirect(HOME)


@router.post("/agent/logout")
def logout(visit: VisitDep, csrf: Short = "") -> Response:
    """End the session."""
    visit.check_csrf(csrf)
    visit.session = visit.cookies.sign_out()
    return visit.redirect(f"{LOGIN}?bye=1")


@router.get(HOME)
def desk(visit: VisitDep) -> Response:
    """An empty form for the next call."""
    _require(visit)
    return _desk(visit, None)


@router.post("/agent/search")
async def search(
    visit: VisitDep,
    intake: IntakeDep,
    question: Text = "",
    caller_number: Short = "",
    request_type: Short = "",
    token: Short = "",
    csrf: Short = "",
    publication_consent: Short = "",
) -> Response:
    """The knowledge base's hits for the caller's question, next to the form."""
    _require(visit)
    visit.check_csrf(csrf)
    call = _call(question, caller_number, request_type, token, publication_consent)
    if "question" in call.errors:
        return _desk(visit, call, status=422)
    found: Lookup = await run_in_threadpool(look_up, intake.knowledge, call.question)
    return _desk(visit, call, found=found, notice=KB_DOWN if found.unavailable else None)


@router.post("/agent/answer")
async def answer(
    visit: VisitDep,
    intake: IntakeDep,
    article_id: Short = "",
    question: Text = "",
    caller_number: Short = "",
    request_type: Short = "",
    token: Short = "",
    csrf: Short = "",
    publication_consent: Short = "",
) -> Response:
    """直接答复: file the call as a consultation answered with the article, closed at once."""
    agent = _require(visit)
    visit.check_csrf(csrf)
    call = _call(question, caller_number, request_type, token, publication_consent)
    if call.errors:
        return _desk(visit, call, status=422)
    if not article_id.isdigit() or not 1 <= int(article_id) <= 2**31 - 1:
        return _desk(visit, call, status=422, notice="请从检索结果中选择一篇知识库文章")
    if intake.knowledge is None:
        return _desk(visit, call, status=503, notice=KB_DOWN)
    try:
        given = await run_in_threadpool(
            answer_with, intake.knowledge, int(article_id), answered_by=agent.actor
        )
    except ArticleGone:
        return _desk(visit, call, status=409, notice=ARTICLE_GONE)
    except KnowledgeUnavailable:
        return _desk(visit, call, status=503, notice=KB_DOWN)
    return await _file(visit, intake, agent, call, given)


@router.post("/agent/file")
async def file(
    visit: VisitDep,
    intake: IntakeDep,
    question: Text = "",
    caller_number: Short = "",
    request_type: Short = "",
    token: Short = "",
    csrf: Short = "",
    publication_consent: Short = "",
) -> Response:
    """Nothing fits: file the call for a department as usual."""
    agent = _require(visit)
    visit.check_csrf(csrf)
    call = _call(question, caller_number, request_type, token, publication_consent)
    if call.errors:
        return _desk(visit, call, status=422)
    return await _file(visit, intake, agent, call, None)


async def _file(
    visit: Visit, intake: Intake, agent: Agent, call: Call, given: DirectAnswer | None
) -> Response:
    item = service.NewFeedback(
        channel=Channel.HOTLINE,
        # The form's token: a double click or a reload is the same call, the same ticket.
        channel_ref=f"agent:{agent.credential_id}/{call.token}",
        text=call.question,
        contact_phone=call.phone,
        # As for the call centre's transcripts: the caller rang and can be rung back.
        callback_consent=call.phone is not None,
        publication_consent=call.publication == "yes",
        request_type=RequestType.CONSULTATION if given else call.chosen_type,
        direct_answer=given,
    )
    try:
        await run_in_threadpool(_admit, intake, agent)
        accepted = await run_in_threadpool(accept_item, intake=intake, item=item)
    except RateLimited as exc:
        notice = f"提交太频繁，请 {exc.retry_after} 秒后再提交"
        return _desk(visit, call, status=429, notice=notice)
    return visit.render(
        "agent/done.html",
        ticket_no=accepted.ticket_no,
        answer=given,
        status_url=intake.settings.status_url(accepted.ticket_no),
    )


def _admit(intake: Intake, agent: Agent) -> None:
    intake.systems.admit(
        Holder(credential_id=agent.credential_id, kind=Kind.AGENT, name=agent.name)
    )
