"""What every workbench page needs: the visitor's session and role, rendering, form errors."""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from feedbackloop.web import visits
from feedbackloop.web.pages import Pages
from feedbackloop.web.sessions import SessionCookies
from feedbackloop.web.visits import PageExit
from services.followup import auth
from services.followup.auth import Principal, Role
from services.followup.deps import Followup, FollowupDep
from services.followup.web import labels

HOME = "/workbench"
LOGIN = "/workbench/login"
COOKIE = "feedbackloop_workbench"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def pages() -> Pages:
    """The workbench templates (read the first time a page is shown)."""
    made = Pages(TEMPLATES)
    made.env.globals.update(labels.GLOBALS)
    return made


@dataclass
class Visit(visits.Visit):
    """A workbench page request: also the followup, and the credential that signed in."""

    followup: Followup | None = None
    principal: Principal | None = None

    @property
    def desk(self) -> Followup:
        """The followup process."""
        assert self.followup is not None
        return self.followup

    def require(self, *roles: Role) -> Principal:
        """The signed-in caller; otherwise off to the sign-in page (or 403 for another role)."""
        if self.principal is None:
            raise PageExit(self.redirect(LOGIN))
        if self.principal.role not in roles:
            raise PageExit(self.problem(403, "没有权限", "您的账号不能使用这个页面。"))
        return self.principal


def _visit(request: Request, followup: FollowupDep) -> Visit:
    cookies = SessionCookies(secret=followup.settings.session_secret, cookie_name=COOKIE)
    session = cookies.read(request)
    principal = None
    credential_id = (session.user or {}).get("credential_id")
    if isinstance(credential_id, str):
        with followup.sessions() as db:
            principal = auth.get_principal_by_id(session=db, credential_id=credential_id)
    return Visit(
        request=request,
        cookies=cookies,
        session=session,
        pages=pages(),
        problem_template="workbench/problem.html",
        followup=followup,
        principal=principal,
    )


VisitDep = Annotated[Visit, Depends(_visit)]
