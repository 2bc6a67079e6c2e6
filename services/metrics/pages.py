"""The 三率 league table (三率排行) as a page and as JSON, from the fold's live figures.

The metrics service owns the 三率: its fold computes them from every event on the log with
the formulas in `fold.py`, the same numbers /metrics exports to Prometheus. The page needs no
sign-in, like /metrics itself: it shows per-department aggregates and nothing personal.
"""

import functools
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from feedbackloop.web.pages import Pages, mount_static
from services.metrics.fold import EventFold
from services.metrics.rates import DepartmentRates, month_of
from services.metrics.scoring import rank_month

router = APIRouter()
Sort = Literal["satisfaction", "resolution", "response"]
SORTS: dict[str, str] = {"satisfaction": "满意率", "resolution": "解决率", "response": "响应率"}


class RatesOut(BaseModel):
    """One department's row of the league table."""

    rank: int
    department: str
    name: str
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    assignments_due: int
    surveys_answered: int


@functools.cache
def pages() -> Pages:
    """The metrics templates (read the first time a page is shown)."""
    return Pages(Path(__file__).with_name("templates"))


def league(fold: EventFold, sort: str) -> list[RatesOut]:
    """Departments ranked by one rate, best first; those without that rate yet come last."""

    def key(rates: DepartmentRates) -> tuple[bool, float, float, str]:
        value = getattr(rates, f"{sort}_rate")
        others = [getattr(rates, f"{s}_rate") or 0.0 for s in SORTS if s != sort]
        return (value is None, -(value or 0.0), -sum(others), rates.department)

    ranked = sorted(fold.rates(), key=key)
    return [RatesOut(rank=i, **vars(r)) for i, r in enumerate(ranked, start=1)]


class ScoreOut(RatesOut):
    """One unit's line of a month's scoring (考核)."""

    late_acceptances: int
    late_completions: int
    points: float
    deductions: float
    score: float


MONTH = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")
BAD_MONTH = "月份格式应为“年-月”，例如 2026-11"


def _not_ready(request: Request) -> bool:
    return not request.app.state.reader.caught_up


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def scores(request: Request, month: str) -> list[ScoreOut]:
    """The month's ranking under the configured weights."""
    ranked = rank_month(request.app.state.fold, month, weights=request.app.state.weights)
    return [ScoreOut(**asdict(row)) for row in ranked]


@router.get("/api/v1/scores", response_model=list[ScoreOut], summary="月度考核 — monthly scoring")
def scores_json(request: Request, month: str = "") -> Any:
    """Every unit's score for one Beijing calendar month (YYYY-MM, default this month)."""
    month = month or month_of(datetime.now(UTC))
    if not MONTH.match(month):
        return _problem(422, "月份无效", BAD_MONTH)
    if _not_ready(request):
        return _problem(503, "尚未就绪", "正在读取历史事件，请稍后再试")
    return scores(request, month)


@router.get("/scores", include_in_schema=False)
def scores_page(request: Request, month: str = "") -> Response:
    """A month's scoring for operators, with the weights it was computed with."""
    this_month = month_of(datetime.now(UTC))
    context: dict[str, Any] = {
        "weights": request.app.state.weights,
        "months": sorted({*request.app.state.fold.months(), this_month}, reverse=True),
    }
    if month and not MONTH.match(month):
        return pages().render(
            "scores.html", status=422, rows=[], month="", error=BAD_MONTH, ready=True, **context
        )
    month = month or this_month
    if _not_ready(request):
        return pages().render(
            "scores.html", status=503, rows=[], month=month, error=None, ready=False, **context
        )
    rows = scores(request, month)
    return pages().render("scores.html", rows=rows, month=month, error=None, ready=True, **context)


@router.get("/api/v1/rates", response_model=list[RatesOut], summary="三率排行 — league table")
def rates_json(request: Request, sort: Annotated[Sort, Query()] = "satisfaction") -> Any:
    """Every department's 响应率, 解决率 and 满意率 (0-1), ranked by `sort`."""
    if _not_ready(request):
        return _problem(503, "尚未就绪", "正在读取历史事件，请稍后再试")
    return league(request.app.state.fold, sort)


@router.get("/rates", include_in_schema=False)
def rates_page(request: Request, sort: str = "satisfaction") -> Response:
    """The league table for operators."""
    sort = sort if sort in SORTS else "satisfaction"
    if _not_ready(request):
        return pages().render(
            "rates.html", status=503, rows=[], sort=sort, sorts=SORTS, ready=False
        )
    rows = league(request.app.state.fold, sort)
    return pages().render("rates.html", rows=rows, sort=sort, sorts=SORTS, ready=True)


def install(app: FastAPI) -> None:
    """Add the league table and the static files to the metrics app."""
    mount_static(app)
    app.include_router(router)
