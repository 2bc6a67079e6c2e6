"""A known set of events around November 2026, and what the public report must say of it.

Items (Beijing months; the log's times are UTC):

- November: a, b, c about 幸福小区's water (供水; hotline, hotline, web; 朝阳区), d a street
  light on 建设路 (wechat, 海淀区; first routed as 供水, corrected to 市容环卫), e noise at
  the dispatch desk only (web, no district: 未分类), x received 2026-10-31 16:30 UTC, which is
  1 November 00:30 in Beijing (open311, 海淀区, 市容环卫).
- October: g (供水, 幸福小区) and h1, h2 (市容环卫); September: s (供水).
- December in Beijing: y, received 2026-11-30 17:00 UTC (hotline, 供水).

Tickets in November: a accepted in time, resolved on time, surveyed 满意/solved; b's response
limit ran out before 签收, its resolution limit too, then resolved (late) and surveyed
不满意/not solved; c opened and waiting; d accepted in time, resolved after its deadline with
no breach event (late).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from feedbackloop.events import (
    Channel,
    Envelope,
    Location,
    Priority,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
    TicketState,
    new_event,
)
from tests import factories

K, S = TicketEventKind, TicketState
MONTH = "2026-11"
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
NAMES = {"water": "市水务局", "urban": "市城市管理局"}


def item(text: str, channel: Channel, when: datetime, district: str | None = None) -> Envelope[Any]:
    location = Location(district=district) if district else None
    return factories.received(text, channel=channel, received_at=when, location=location)


def routed(
    of: Envelope[Any], department: str, category: str, *, minute: int = 0, triage: bool = False
) -> Envelope[Any]:
    method = RoutingMethod.TRIAGE if triage else RoutingMethod.MODEL
    event = factories.routed(of, department=department, method=method, minute=minute)
    data = event.data.model_copy(
        update={"category": category, "department_name": NAMES.get(department, "市民热线")}
    )
    return new_event(data=data, source="/router", subject=of.data.ticket_id)


def ticket(
    of: Envelope[Any],
    kind: TicketEventKind,
    state: TicketState,
    *,
    hours: float,
    department: str,
    due: timedelta = timedelta(days=7),
    **extra: object,
) -> Envelope[Any]:
    data = TicketEvent(
        ticket_id=of.data.ticket_id,
        ticket_no=of.data.ticket_no,
        kind=kind,
        state_to=state,
        department_code=department,
        department_name=NAMES[department],
        priority=Priority.NORMAL,
        actor="system",
        received_at=T0,
        occurred_at=T0 + timedelta(hours=hours),
        due_at=T0 + due,
        channel=of.data.channel.value,
        **extra,  # type: ignore[arg-type]
    )
    return new_event(data=data, source="/followup", subject=of.data.ticket_id)


def month_events() -> list[Envelope[Any]]:
    """The events of the module docstring, in an order a fold of several topics may see."""
    nov, oct_, sep = T0, datetime(2026, 10, 15, 2, tzinfo=UTC), datetime(2026, 9, 10, tzinfo=UTC)
    hot, web, wechat = Channel.HOTLINE, Channel.WEB, Channel.WECHAT
    a = item("幸福小区5栋水管爆裂，家里停水了", hot, nov, "朝阳区")
    b = item("幸福小区又停水了，水压很低", hot, nov, "朝阳区")
    c = item("幸福小区楼下停水三天", web, nov, "朝阳区")
    d = item("建设路路灯坏了", wechat, nov, "海淀区")
    e = item("楼上噪音扰民", web, nov)
    boundary = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
    x = item("光明路垃圾没人清运", Channel.OPEN311, boundary, "海淀区")
    g = item("幸福小区停水", hot, oct_, "朝阳区")
    h1, h2 = item("垃圾满了", web, oct_), item("路面脏", web, oct_)
    s = item("水费问题", hot, sep)
    y = item("自来水发黄", hot, datetime(2026, 11, 30, 17, tzinfo=UTC), "朝阳区")
    events: list[Envelope[Any]] = []
    # Routing first for some: topics are read in no order across each other.
    events += [routed(a, "water", "供水"), routed(d, "water", "供水")]
    events += [a, b, c, d, e, x, g, h1, h2, s, y]
    events += [
        routed(b, "water", "供水"),
        routed(c, "water", "供水"),
        routed(d, "urban", "市容环卫", minute=5),
        routed(e, "dispatch", "噪声", triage=True),
        routed(x, "urban", "市容环卫"),
        routed(g, "water", "供水"),
        routed(h1, "urban", "市容环卫"),
        routed(h2, "urban", "市容环卫"),
        routed(s, "water", "供水"),
        routed(y, "water", "供水"),
    ]
    w, u = "water", "urban"
    answers = {"satisfaction": "satisfied", "solved": "solved"}
    events += [
        ticket(a, K.OPENED, S.ROUTED, hours=0, department=w),
        ticket(a, K.ACCEPTED, S.ACCEPTED, hours=1, department=w),
        ticket(a, K.RESOLVED, S.RESOLVED, hours=5, department=w),
        ticket(a, K.SURVEYED, S.SURVEYED, hours=30, department=w, **answers),
        ticket(b, K.OPENED, S.ROUTED, hours=0, department=w),
        ticket(b, K.BREACHED, S.ROUTED, hours=4, department=w, clock="response"),
        ticket(b, K.ACCEPTED, S.ACCEPTED, hours=5, department=w),
        ticket(b, K.BREACHED, S.ACCEPTED, hours=168.5, department=w, clock="resolution"),
        ticket(b, K.RESOLVED, S.RESOLVED, hours=170, department=w),
        ticket(
            b,
            K.SURVEYED,
            S.SURVEYED,
            hours=180,
            department=w,
            satisfaction="dissatisfied",
            solved="not",
        ),
        ticket(c, K.OPENED, S.ROUTED, hours=0, department=w),
        ticket(d, K.OPENED, S.ROUTED, hours=0, department=u, due=timedelta(days=1)),
        ticket(d, K.ACCEPTED, S.ACCEPTED, hours=1, department=u, due=timedelta(days=1)),
        ticket(d, K.RESOLVED, S.RESOLVED, hours=48, department=u, due=timedelta(days=1)),
    ]
    return events


#: What the report of MONTH must say of `month_events()`.
EXPECTED = {
    "received": 6,
    "channels": {"12345 热线电话": 2, "网站": 2, "微信": 1, "开放接口（Open311）": 1},
    "districts": {"朝阳区": 3, "海淀区": 2, "未注明": 1},
    "categories": {"供水": 3, "市容环卫": 2, "未分类": 1},
    "responses": (2, 3),  # in time, due
    "resolutions": (1, 3),  # on time, all
    "late_acceptances": 1,
    "late_completions": 1,
    "surveys": (2, 1, 1),  # answered, satisfied, solved
    # 每月一题 over 2026-08 .. 2026-11
    "problems": {"供水": [0, 1, 1, 3], "市容环卫": [0, 0, 2, 2], "未分类": [0, 0, 0, 1]},
    "places": {("供水", "幸福小区"): [0, 0, 1, 3]},
}
