"""Signing in to the workbench with a credential, and out again."""

import re
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from services.followup.auth import Principal, Role
from services.followup.web.common import HOME, LOGIN, VisitDep

router = APIRouter(include_in_schema=False)
TOKEN = re.compile(r"[0-9a-f]{1,32}\.[\x21-\x7e]{1,160}")

#: Where each role starts.
START = {
    Role.DEPARTMENT: HOME,
    Role.OPERATOR: "/workbench/extensions",
    Role.SUPERVISOR: "/workbench/extensions",
}


def start_page(principal: Principal) -> str:
    """The first page a role sees after signing in."""
    return START[principal.role]


@router.get(LOGIN)
def login_page(visit: VisitDep, bye: bool = False) -> Response:
    """The sign-in form (or straight on, for someone signed in already)."""
    if visit.principal is not None:
        return visit.redirect(start_page(visit.principal))
    return visit.render("workbench/login.html", bye=bye, error=None)


@router.post(LOGIN)
def login(
    visit: VisitDep,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the credential; a good one starts a new signed session."""
    visit.check_csrf(csrf)
    token = token.strip()
    if not token:
        return visit.render(
            "workbench/login.html",
            status=422,
            bye=False,
            error="请输入本单位的访问凭证",
        )
    well_formed = TOKEN.fullmatch(token) is not None  # what add-credential prints
    principal = visit.desk.principal(token) if well_formed else None
    if principal is None:
        return visit.render(
            "workbench/login.html",
            status=401,
            bye=False,
            error="访问凭证不正确或已停用，请核对后重新输入（凭证由管理员用 add-credential 生成）",
        )
    visit.session = visit.cookies.sign_in({"credential_id": principal.credential_id})
    return visit.redirect(start_page(principal))


@router.post("/workbench/logout")
def logout(visit: VisitDep, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session."""
    visit.check_csrf(csrf)
    visit.session = visit.cookies.sign_out()
    return visit.redirect(f"{LOGIN}?bye=1")
