"""The workbench page /workbench/articles: the unit's articles and a form to add one.

Thin over the API's functions (`services.followup.knowledge.views`); CSRF like every
workbench form. Bodies are shown as escaped text with their line breaks, never as HTML.
"""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import ValidationError

from feedbackloop.web.forms import clean, field_errors
from services.followup.auth import Role
from services.followup.knowledge import views
from services.followup.web.common import HOME, Visit, VisitDep

router: APIRouter = APIRouter(include_in_schema=False)
PAGE = f"{HOME}/articles"
FIELDS = {
    "title": "标题",
    "body_md": "正文",
    "valid_from": "生效日期",
    "valid_until": "失效日期",
    "department_code": "所属单位代码",
}


def _page(visit: Visit, **context: object) -> Response:
    principal = visit.require(Role.DEPARTMENT, Role.OPERATOR, Role.SUPERVISOR)
    articles = views.list_articles(
        visit.desk, principal, principal.scope, None, False, limit=200, offset=0
    )
    context = {"flash": None, "errors": {}, "values": {}, "status": 200} | context
    status = context.pop("status")
    assert isinstance(status, int)
    return visit.render("workbench/articles.html", status=status, articles=articles, **context)


@router.get(PAGE)
def articles_page(visit: VisitDep, done: str = "") -> Response:
    """The unit's articles (operators: all), newest first, and the form to add one."""
    return _page(visit, flash="文章已保存" if done == "1" else None)


@router.post(PAGE)
def add_article(
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    body_md: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form(max_length=32)] = "",
    valid_until: Annotated[str, Form(max_length=32)] = "",
    department_code: Annotated[str, Form(max_length=48)] = "",
) -> Response:
    """Add an article; on bad input the form again with the message next to the field."""
    principal = visit.require(Role.DEPARTMENT, Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    given = {
        "title": title,
        "body_md": body_md,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "department_code": department_code,
    }
    values = {name: clean(value) for name, value in given.items()}
    try:
        body = views.ArticleIn.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        return _page(visit, status=422, errors=field_errors(exc, FIELDS), values=values)
    try:
        views.create_article(body, visit.desk, principal)
    except HTTPException as exc:
        errors = {"_": str(exc.detail)}
        return _page(visit, status=exc.status_code, errors=errors, values=values)
    return visit.redirect(f"{PAGE}?done=1")
