"""The centre's 舆情预警 page: surges with their trend and the items behind them, today's
hotspots and near-duplicates, and the share of heated items (see `early_warnings`)."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from feedbackloop.tone import is_heated
from services.followup import early_warnings
from services.followup.auth import Role
from services.followup.calendar import BEIJING
from services.followup.models import EarlyWarning, Ticket
from services.followup.web.common import VisitDep

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Bar:
    """One hour of a surge's trend chart (SVG coordinates)."""

    x: float
    height: float
    count: int
    baseline_y: float
    #: The hour's start (Beijing, HH:00) on every sixth bar and the last, else "".
    label: str


@dataclass(frozen=True)
class SurgeView:
    """A surge as the page shows it."""

    warning: EarlyWarning
    heading: str
    bars: list[Bar]
    items: list[Ticket | str]


CHART_WIDTH, CHART_HEIGHT = 480.0, 120.0


def _bars(warning: EarlyWarning) -> list[Bar]:
    trend = json.loads(warning.trend or "[]")
    baseline = json.loads(warning.baseline or "[]")
    top = max([*trend, *baseline, 1])
    step = CHART_WIDTH / max(len(trend), 1)
    last = warning.last_at.astimezone(BEIJING).replace(minute=0, second=0, microsecond=0)
    hours = [last - timedelta(hours=len(trend) - 1 - i) for i in range(len(trend))]
    return [
        Bar(
            x=round(i * step, 1),
            height=round(count / top * CHART_HEIGHT, 1),
            count=count,
            baseline_y=round(
                CHART_HEIGHT - (baseline[i] if i < len(baseline) else 0) / top * CHART_HEIGHT, 1
            ),
            label=f"{hours[i]:%H}时" if i % 6 == 0 or i == len(trend) - 1 else "",
        )
        for i, count in enumerate(trend)
    ]


@router.get(early_warnings.PAGE)
def warnings(visit: VisitDep) -> Response:
    """Surges of the last 7 days, the latest first, and today's hotspots and near-duplicates."""
    visit.require(Role.OPERATOR, Role.SUPERVISOR)
    now = datetime.now(UTC)
    today = datetime.now(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    with visit.desk.sessions() as session:
        surges = early_warnings.list_warnings(
            session=session, kind="surge", since=now - timedelta(days=7)
        )
        numbers = {no for s in surges for no in json.loads(s.ticket_nos)[-50:]}
        known = {
            t.ticket_no: t
            for t in session.execute(select(Ticket).where(Ticket.ticket_no.in_(numbers))).scalars()
        }
        views = [
            SurgeView(
                warning=s,
                heading=early_warnings.heading(s),
                bars=_bars(s),
                items=[known.get(no, no) for no in reversed(json.loads(s.ticket_nos)[-50:])],
            )
            for s in surges
        ]
        hotspots = early_warnings.list_warnings(session=session, kind="hotspot", since=today)
        duplicates = early_warnings.list_near_duplicates(session=session, since=today)
        received = list(
            session.execute(
                select(Ticket.title, Ticket.text, Ticket.priority).where(
                    Ticket.received_at >= today
                )
            )
        )
    heated = sum(is_heated(f"{t or ''}\n{x}", p) for t, x, p in received)
    return visit.render(
        "workbench/warnings.html",
        surges=views,
        hotspots=[(h, json.loads(h.ticket_nos)) for h in hotspots],
        duplicates=duplicates,
        received_today=len(received),
        heated_today=heated,
        chart=(CHART_WIDTH, CHART_HEIGHT),
    )
