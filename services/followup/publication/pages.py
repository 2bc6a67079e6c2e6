"""The public board (公开栏): /board, /board/{ticket_no}, /board.json, /board.rss, and the
citizen's consent control on the status page.

No sign-in: anyone may read the board, within a per-address budget a minute. The pages read
only `public_items` (the masked records), so nothing a citizen did not agree to, or nothing
before its reply, can be shown; a withheld item is not there and its page is a 404.
"""

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from feedbackloop.web.pages import Pages
from feedbackloop.web.rates import RateLimited
from services.followup import lookups, service
from services.followup.deps import Followup, FollowupDep
from services.followup.publication import board
from services.followup.publication import service as publication
from services.followup.publication.board import PERIODS, BadQuery

router = APIRouter(tags=["公开栏"])
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PROBLEM_JSON = "application/problem+json"


@functools.cache
def pages() -> Pages:
    """The board's templates, on the shared console layout."""
    made = Pages(TEMPLATES)
    made.env.filters.update(
        survey=board.survey_words,
        headline=board.headline,
        combine=lambda given, **more: {**given, **{k: str(v) for k, v in more.items()}},
    )
    return made


def _message(
    status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return pages().render(
        "board/message.html", status=status, headers=headers, title=title, message=message
    )


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "about:blank", "title": "请求有误", "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _admit(request: Request, followup: Followup, *, html: bool) -> Response | None:
    """None if the client may view the board now, else the 429 to answer with."""
    try:
        lookups.check_board_view(request, followup.settings)
    except RateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        words = lookups.TOO_MANY.format(exc.retry_after)
        if html:
            return _message(429, "访问太频繁", words + "。", headers)
        return _problem(429, words, headers)
    return None


@router.get("/board", response_class=HTMLResponse, summary="公开栏")
def board_page(request: Request, followup: FollowupDep) -> Response:
    """The newest answered items first, with search, filters and pages."""
    refused = _admit(request, followup, html=True)
    if refused is not None:
        return refused
    try:
        asked = board.parse(request.query_params, now=datetime.now(UTC))
    except BadQuery as exc:
        return _message(400, "查询条件有误", str(exc))
    with followup.sessions() as session:
        items, total = publication.list_board(
            session=session,
            query=asked.query,
            limit=asked.per_page,
            offset=(asked.page - 1) * asked.per_page,
        )
        facets = publication.list_facets(session=session)
    last_page = max(1, -(-total // asked.per_page))
    keep = {k: v for k, v in asked.values.items() if v} | (
        {"period": asked.period} if asked.period else {}
    )
    return pages().render(
        "board/list.html",
        items=items,
        total=total,
        page=asked.page,
        last_page=last_page,
        values=asked.values,
        period=asked.period,
        periods=PERIODS,
        facets=facets,
        keep=keep,
        local=board.local,
    )


@router.get("/board.json", summary="公开栏 JSON")
def board_json(request: Request, followup: FollowupDep) -> Response:
    """The board's items as JSON, with the same filters and pages (`per_page` up to 50)."""
    refused = _admit(request, followup, html=False)
    if refused is not None:
        return refused
    try:
        asked = board.parse(request.query_params, now=datetime.now(UTC), per_page=True)
    except BadQuery as exc:
        return _problem(400, str(exc))
    base = followup.settings.public_base_url
    with followup.sessions() as session:
        items, total = publication.list_board(
            session=session,
            query=asked.query,
            limit=asked.per_page,
            offset=(asked.page - 1) * asked.per_page,
        )
        body = {
            "total": total,
            "page": asked.page,
            "per_page": asked.per_page,
            "items": [board.as_json(item, base) for item in items],
        }
    return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*"})


@router.get("/board.rss", summary="公开栏 RSS")
def board_rss(request: Request, followup: FollowupDep) -> Response:
    """RSS 2.0 of the latest 50 items (the same filters apply)."""
    refused = _admit(request, followup, html=False)
    if refused is not None:
        return refused
    now = datetime.now(UTC)
    try:
        asked = board.parse(request.query_params, now=now)
    except BadQuery as exc:
        return _problem(400, str(exc))
    with followup.sessions() as session:
        items, _total = publication.list_board(
            session=session, query=asked.query, limit=board.RSS_ITEMS, offset=0
        )
        xml = board.as_rss(items, followup.settings.public_base_url, now=now)
    return Response(xml, media_type="application/rss+xml; charset=utf-8")


@router.get("/board/{ticket_no}", response_class=HTMLResponse, summary="公开栏条目")
def board_item(ticket_no: str, request: Request, followup: FollowupDep) -> Response:
    """One item of the board; 404 for anything not on it (unknown, unanswered, withheld)."""
    refused = _admit(request, followup, html=True)
    if refused is not None:
        return refused
    with followup.sessions() as session:
        item = publication.get_item(session=session, ticket_no=ticket_no.strip()[:20])
        if item is None:
            return _message(
                404, "没有找到", "公开栏中没有这条诉求：它可能尚未办结、未经市民同意公开或已撤下。"
            )
        return pages().render("board/item.html", item=item, local=board.local)


@router.post("/t/{ticket_no}/publication", response_class=HTMLResponse, summary="同意或撤回公开")
def set_consent(
    ticket_no: str,
    request: Request,
    followup: FollowupDep,
    k: Annotated[str, Form(max_length=200)] = "",
    consent: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The citizen, with their status link's secret, agrees to or withdraws publication."""
    refused = _admit(request, followup, html=True)
    if refused is not None:
        return refused
    if consent not in ("yes", "no"):
        return _message(400, "请选择", "请选择同意公开或撤回公开。")
    number = ticket_no.strip()[:20]
    if not lookups.shows_all(followup.settings, number, k):
        return _message(403, "无法操作", "请使用受理时给您的完整查询链接打开工单进度页后再操作。")
    with followup.sessions.begin() as session:
        ticket = service.get_ticket_for(
            session=session, ticket_no=number, department_code=None, lock=True
        )
        if ticket is None:
            return _message(404, "没有找到工单", "请核对工单号。")
        publication.set_consent(
            session=session, ticket=ticket, consent=consent == "yes", now=datetime.now(UTC)
        )
    followup.wake_relay()
    done = (
        "您已同意公开：办结后将隐去个人信息在公开栏展示。"
        if consent == "yes"
        else "您已撤回公开，这条诉求不会在公开栏展示。"
    )
    return pages().render(
        "board/message.html",
        title="已保存",
        message=done,
        back=f"/t/{number}?k={k}",
    )
