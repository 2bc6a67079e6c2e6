"""One page request of a console: its session, rendering, redirects and refusals."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from feedbackloop.web.pages import Pages
from feedbackloop.web.sessions import SessionCookies, WebSession, is_secure

T = TypeVar("T")


class PageExit(Exception):
    """Stop handling a page and answer with this response (sign-in redirect, refusal)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def install_exit_handler(app: FastAPI) -> None:
    """Answer a PageExit with its response."""

    async def _exit(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageExit)
        return exc.response

    app.add_exception_handler(PageExit, _exit)


@dataclass
class Visit:
    """A page request: the browser's session, and the pages to answer with."""

    request: Request
    cookies: SessionCookies
    session: WebSession
    pages: Pages
    #: The service's page for errors (extends its base layout; gets title and message).
    problem_template: str
    #: Whoever signed in, as the service's templates know them (None: nobody).
    principal: Any = None

    @property
    def csrf(self) -> str:
        """The token this session's forms carry."""
        return self.cookies.csrf_token(self.session)

    def _keep(self, response: Response) -> Response:
        self.cookies.write(response, self.session, secure=is_secure(self.request))
        return response

    def render(self, template: str, /, *, status: int = 200, **context: Any) -> Response:
        """A page with the visitor in its context; sets the session cookie when it changed."""
        return self._keep(
            self.pages.render(
                template,
                status=status,
                principal=self.principal,
                csrf=self.csrf,
                path=self.request.url.path,
                **context,
            )
        )

    def redirect(self, url: str) -> Response:
        """See other (after a successful POST, or to the sign-in page)."""
        return self._keep(RedirectResponse(url, status_code=303))

    def problem(self, status: int, title: str, message: str) -> Response:
        """A page that says what went wrong, with the given status."""
        return self.render(self.problem_template, status=status, title=title, message=message)

    def form_body(self, build: Callable[[], T], *, title: str, message: str) -> T:
        """What a form's fields make (an API body), or a 422 page saying what to fix."""
        try:
            return build()
        except ValidationError:
            raise PageExit(self.problem(422, title, message)) from None

    def attempt(self, action: Callable[[], T], *, failed: str) -> T:
        """Run one of the API's actions; its refusal becomes a page saying why."""
        try:
            return action()
        except HTTPException as exc:
            raise PageExit(self.problem(exc.status_code, failed, str(exc.detail))) from exc

    def check_csrf(self, token: str) -> None:
        """Refuse a form that did not come from one of this session's pages."""
        if not self.cookies.csrf_ok(self.session, token):
            raise PageExit(
                self.problem(
                    403, "页面已过期", "表单已过期或来源不明，请返回上一页刷新后重新提交。"
                )
            )
