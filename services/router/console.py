"""The operators' console in the router: the triage queue (人工分派) and hotspots (热点).

Operators sign in with their name (recorded with each assignment) and the router's operator
token; the session cookie is signed with a key derived from that token, so changing the token
signs everyone out. Handlers call the triage API's functions (`views`), so an assignment from
the page is exactly the API's.
"""

import functools
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

from feedbackloop.web import visits
from feedbackloop.web.forms import clean, ticket_number
from feedbackloop.web.pages import Pages, mount_static
from feedbackloop.web.sessions import SessionCookies
from feedbackloop.web.visits import PageExit, install_exit_handler
from services.router import views

router = APIRouter(include_in_schema=False)
LOGIN = "/console/login"
TRIAGE = "/console/triage"
HOTSPOTS = "/console/hotspots"
COOKIE = "feedbackloop_console"
CHANNEL_LABELS = {"web": "网站", "wechat": "微信", "hotline": "热线", "open311": "Open311"}
PRIORITY_LABELS = {"urgent": "紧急", "high": "较急", "normal": "一般"}


@functools.cache
def pages() -> Pages:
    """The console templates (read the first time a page is shown)."""
    made = Pages(Path(__file__).with_name("templates"))
    made.env.globals.update(CHANNEL_LABELS=CHANNEL_LABELS, PRIORITY_LABELS=PRIORITY_LABELS)
    return made


@dataclass
class Visit(visits.Visit):
    """A console page request; `principal` is {"name": ...} once an operator signed in."""

    def require(self) -> str:
        """The signed-in operator's name; otherwise off to the sign-in page."""
        if self.principal is None:
            raise PageExit(self.redirect(LOGIN))
        return str(self.principal["name"])


def _visit(request: Request) -> Visit:
    cookies = SessionCookies(secret=request.app.state.settings.operator_token, cookie_name=COOKIE)
    session = cookies.read(request)
    name = (session.user or {}).get("operator")
    return Visit(
        request=request,
        cookies=cookies,
        session=session,
        pages=pages(),
        problem_template="console/problem.html",
        principal={"name": name} if isinstance(name, str) and name else None,
    )


VisitDep = Annotated[Visit, Depends(_visit)]


@router.get("/console")
def home(visit: VisitDep) -> Response:
    """The console starts at the triage queue."""
    return visit.redirect(TRIAGE)


@router.get(LOGIN)
def login_page(visit: VisitDep, bye: bool = False) -> Response:
    """The sign-in form."""
    if visit.principal is not None:
        return visit.redirect(TRIAGE)
    return visit.render("console/login.html", bye=bye, errors={}, name="")


@router.post(LOGIN)
def login(
    visit: VisitDep,
    name: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the operator token; the name goes on every assignment made in this session."""
    visit.check_csrf(csrf)
    name = clean(name, 80).strip()
    errors = {}
    if not name:
        errors["name"] = "请填写您的姓名或工号（分派记录会署这个名字）"
    expected = visit.request.app.state.settings.operator_token
    if not token:
        errors["token"] = "请输入接线员凭证"
    elif not secrets.compare_digest(token.encode(), expected.encode()):
        errors["token"] = "接线员凭证不正确，请核对后重新输入"
    if errors:
        status = 401 if "token" in errors and token else 422
        return visit.render(
            "console/login.html", status=status, bye=False, errors=errors, name=name
        )
    visit.session = visit.cookies.sign_in({"operator": name})
    return visit.redirect(TRIAGE)


@router.post("/console/logout")
def logout(visit: VisitDep, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session."""
    visit.check_csrf(csrf)
    visit.session = visit.cookies.sign_out()
    return visit.redirect(f"{LOGIN}?bye=1")


def _triage_page(visit: Visit, *, status: int = 200, **context: Any) -> Response:
    items = views.list_triage(visit.request, limit=200)
    departments = visit.request.app.state.table.departments
    return visit.render(
        "console/triage.html",
        status=status,
        items=items,
        departments=departments,
        **{"flash": None, "error": None, "error_ticket": None, **context},
    )


@router.get(TRIAGE)
def triage(visit: VisitDep, done: str = "", ticket: str = "", department: str = "") -> Response:
    """Items waiting for an operator, with the model's top-3 departments and probabilities."""
    visit.require()
    departments = visit.request.app.state.table.departments
    flash = None
    if done == "assigned" and ticket_number(ticket) and department in departments:
        flash = f"工单 {ticket} 已派给{departments[department]}"
    return _triage_page(visit, flash=flash)


@router.post(f"{TRIAGE}/{{ticket_no}}/assign")
async def assign(
    ticket_no: str,
    visit: VisitDep,
    department_code: Annotated[str, Form()] = "",
    co_department_code: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Assign an item to the department the operator clicked or chose, with any co-units."""
    operator = visit.require()
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    co_codes = [code for code in (co_department_code or [])[:6] if code]
    if len(co_codes) > 5:
        return _triage_page(visit, status=422, error="协办单位最多 5 个", error_ticket=ticket_no)
    try:
        body = views.AssignIn(
            department_code=department_code, operator=operator, co_department_codes=co_codes
        )
        done = await views.assign(ticket_no, body, visit.request)
    except ValidationError:
        return _triage_page(
            visit, status=422, error="请选择要派往的承办单位", error_ticket=ticket_no
        )
    except HTTPException as exc:
        return _triage_page(
            visit, status=exc.status_code, error=str(exc.detail), error_ticket=ticket_no
        )
    return visit.redirect(
        f"{TRIAGE}?done=assigned&ticket={done.ticket_no}&department={done.department_code}"
    )


@router.get(HOTSPOTS)
def hotspots(visit: VisitDep) -> Response:
    """Bursts of items about one place in the last 7 days."""
    visit.require()
    found = views.list_hotspots(visit.request, days=7, limit=200)
    return visit.render("console/hotspots.html", hotspots=found)


def install(app: FastAPI) -> None:
    """Add the console pages, their static files and their error handling to an app."""
    mount_static(app)
    install_exit_handler(app)
    app.include_router(router)
