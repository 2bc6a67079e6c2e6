"""The knowledge base API: departments keep their own articles, all staff search.

A department creates, changes and retires only its own department's articles (another's
answer 403); operators and supervisors may do so for any department.
"""

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, field_validator, model_validator

from feedbackloop.web.rates import RateLimited
from services.followup import lookups
from services.followup.auth import Principal, Role
from services.followup.deps import Followup, FollowupDep, PrincipalDep
from services.followup.knowledge import service
from services.followup.knowledge.models import Article

router = APIRouter()
ARTICLES = "/api/v1/workbench/articles"
SEARCH = "/api/v1/workbench/knowledge/search"
BEIJING = timezone(timedelta(hours=8))
NOT_FOUND = "没有找到这篇知识库文章"
NOT_YOURS = "只能修改本单位的知识库文章"
SEARCHES_PER_MINUTE = 120
#: An article number that fits an INTEGER column on both databases.
ArticleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def utc_now() -> datetime:
    return datetime.now(UTC)


def beijing_today() -> date:
    """Today's date in Beijing, the date validity is judged on."""
    return datetime.now(BEIJING).date()


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("内容不能包含空字符")
    return value.strip() if value is not None else None


class ArticleIn(BaseModel):
    """A new article; `department_code` is the caller's own for a department."""

    title: str = Field(min_length=1, max_length=100)
    body_md: str = Field(min_length=1, max_length=20_000)
    valid_from: date | None = None
    valid_until: date | None = None
    department_code: str | None = Field(default=None, min_length=1, max_length=48)

    _clean = field_validator("title", "body_md", "department_code")(_no_nul)

    @model_validator(mode="after")
    def _dates_in_order(self) -> "ArticleIn":
        if not self.title or not self.body_md:
            raise ValueError("标题和正文都不能为空")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("有效期的结束日期不能早于开始日期")
        return self


class ArticlePatch(BaseModel):
    """Changes to an article; dates are changed only when one of them is given."""

    title: str | None = Field(default=None, min_length=1, max_length=100)
    body_md: str | None = Field(default=None, min_length=1, max_length=20_000)
    valid_from: date | None = None
    valid_until: date | None = None

    _clean = field_validator("title", "body_md")(_no_nul)

    @model_validator(mode="after")
    def _not_blank(self) -> "ArticlePatch":
        if self.title == "" or self.body_md == "":
            raise ValueError("标题和正文都不能为空")
        return self


class ArticleOut(BaseModel):
    """An article as the API shows it."""

    id: int
    department_code: str
    title: str
    body_md: str
    valid_from: date | None
    valid_until: date | None
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None


class HitOut(BaseModel):
    """A search hit: an article (id) or a past ticket's reply (ticket_no)."""

    kind: str
    id: int | None
    ticket_no: str | None
    title: str
    snippet: str
    score: float


def article_out(article: Article) -> ArticleOut:
    return ArticleOut.model_validate(article, from_attributes=True)


def _staff(principal: Principal) -> None:
    if principal.role not in (Role.DEPARTMENT, Role.OPERATOR, Role.SUPERVISOR):
        raise HTTPException(403, "您的账号没有这项操作的权限")


def _may_edit(principal: Principal, department_code: str) -> None:
    _staff(principal)
    if principal.role is Role.DEPARTMENT and principal.department_code != department_code:
        raise HTTPException(403, NOT_YOURS)


@router.post(f"{ARTICLES}", status_code=201, response_model=ArticleOut, summary="新增知识库文章")
def create_article(body: ArticleIn, followup: FollowupDep, principal: PrincipalDep) -> ArticleOut:
    """A department's article (operators name the department)."""
    department = body.department_code or principal.department_code
    if department is None:
        raise HTTPException(422, "请填写文章所属单位（department_code）")
    _may_edit(principal, department)
    with followup.sessions.begin() as session:
        article = service.create(
            session=session,
            department_code=department,
            title=body.title,
            body_md=body.body_md,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
            actor=principal.name,
            now=utc_now(),
        )
        return article_out(article)


@router.get(f"{ARTICLES}", response_model=list[ArticleOut], summary="知识库文章列表")
def list_articles(
    followup: FollowupDep,
    principal: PrincipalDep,
    department_code: Annotated[str | None, Query(max_length=48)] = None,
    valid_on: date | None = None,
    valid_now: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[ArticleOut]:
    """Articles, newest first; by department, and valid on a date (or today)."""
    _staff(principal)
    if department_code is not None and "\x00" in department_code:
        raise HTTPException(422, "单位代码不能包含空字符")
    with followup.sessions() as session:
        found = service.list_articles(
            session=session,
            department_code=department_code,
            valid_on=beijing_today() if valid_now else valid_on,
            limit=limit,
            offset=offset,
        )
        return [article_out(a) for a in found]


@router.get(f"{ARTICLES}/{{article_id}}", response_model=ArticleOut, summary="知识库文章")
def get_article(
    article_id: ArticleId, followup: FollowupDep, principal: PrincipalDep
) -> ArticleOut:
    """One article."""
    _staff(principal)
    with followup.sessions() as session:
        article = service.get(session=session, article_id=article_id)
        if article is None:
            raise HTTPException(404, NOT_FOUND)
        return article_out(article)


@router.patch(f"{ARTICLES}/{{article_id}}", response_model=ArticleOut, summary="修改知识库文章")
def update_article(
    article_id: ArticleId, body: ArticlePatch, followup: FollowupDep, principal: PrincipalDep
) -> ArticleOut:
    """Change an article's title, body or validity dates."""
    _staff(principal)
    given = body.model_fields_set
    with followup.sessions.begin() as session:
        article = service.get(session=session, article_id=article_id, lock=True)
        if article is None:
            raise HTTPException(404, NOT_FOUND)
        _may_edit(principal, article.department_code)
        dates = bool({"valid_from", "valid_until"} & given)
        try:
            service.update(
                session=session,
                article=article,
                actor=principal.name,
                now=utc_now(),
                title=body.title,
                body_md=body.body_md,
                valid_from=body.valid_from if "valid_from" in given else article.valid_from,
                valid_until=body.valid_until if "valid_until" in given else article.valid_until,
                dates_given=dates,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return article_out(article)


@router.post(
    f"{ARTICLES}/{{article_id}}/retire", response_model=ArticleOut, summary="停用知识库文章"
)
def retire_article(
    article_id: ArticleId, followup: FollowupDep, principal: PrincipalDep
) -> ArticleOut:
    """Take an article out of lists and search."""
    _staff(principal)
    with followup.sessions.begin() as session:
        article = service.get(session=session, article_id=article_id, lock=True)
        if article is None:
            raise HTTPException(404, NOT_FOUND)
        _may_edit(principal, article.department_code)
        service.retire(session=session, article=article, actor=principal.name, now=utc_now())
        return article_out(article)


class SearchIn(BaseModel):
    """A search sent as a body, keeping a citizen's words out of URLs and access logs."""

    q: str = Field(min_length=1, max_length=2000)
    limit: int = Field(default=3, ge=1, le=10)


@router.get(SEARCH, response_model=list[HitOut], summary="知识库检索")
def search(
    request: Request,
    followup: FollowupDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> list[HitOut]:
    """Articles and past answers similar to `q`, best first (ticket hits: number and reply)."""
    return _search(request, followup, principal, q, limit)


@router.post(SEARCH, response_model=list[HitOut], summary="知识库检索（正文提交）")
def search_posted(
    body: SearchIn, request: Request, followup: FollowupDep, principal: PrincipalDep
) -> list[HitOut]:
    """The same search with the text in the body (intake's agent page and WeChat use this)."""
    return _search(request, followup, principal, body.q, body.limit)


def _search(
    request: Request, followup: Followup, principal: Principal, q: str, limit: int
) -> list[HitOut]:
    _staff(principal)
    if "\x00" in q:
        raise HTTPException(422, "检索内容不能包含空字符")
    limiter = lookups._limiter(request, "knowledge_searches", SEARCHES_PER_MINUTE)
    try:
        limiter.check(f"staff:{principal.actor}")
    except RateLimited as exc:
        raise lookups.too_many(exc) from exc
    with followup.sessions() as session:
        hits = service.search(session=session, text=q, today=beijing_today(), limit=limit)
    return [HitOut(**hit.__dict__) for hit in hits]


# The workbench page, on this router so that the app includes the knowledge base in one line.
from services.followup.knowledge import pages  # noqa: E402

router.include_router(pages.router)
