"""并单 and 拆分: the centre merges the router's near-duplicates (the follower gets the master's
answer and survey) and splits a call about two problems into tickets routed on their own;
both audited, both undoable."""

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from stdnum import damm

from feedbackloop.events import Contact, Envelope, FeedbackReceived, decode
from feedbackloop.events.topics import FEEDBACK_RECEIVED, TICKET_EVENTS
from services.followup import clocks
from services.followup.config import Settings
from services.followup.models import Clock, OutboxMessage, Ticket
from services.followup.notifications import notification_for
from tests import factories
from tests.followup.conftest import Desk
from tests.followup.test_web import sign_in, token_of

API = "/api/v1/workbench"
_numbers = itertools.count(1)
WATER = "幸福小区3栋的自来水管爆了，整栋楼停水两天，请尽快派人抢修。"
NEAR = "幸福小区3栋自来水管爆了，整栋楼停水两天了，请尽快抢修！"


def file(
    desk: Desk,
    text: str,
    *,
    duplicate_of: str | None = None,
    department: str = "water",
    openid: str | None = None,
    **routing: object,
) -> str:
    number = f"26112350{next(_numbers):05d}"
    item = factories.received(
        text,
        received_at=datetime.now(UTC) - timedelta(hours=1),
        ticket_no=number,
        contact=Contact(wechat_openid=openid or f"o{number}"),
        location={"address": "幸福小区3栋", "district": "A3区"},
    )
    desk.route(
        factories.routed(item, department=department, duplicate_of=duplicate_of, **routing)  # type: ignore[arg-type]
    )
    return number


def ticket(desk: Desk, no: str, who: str = "operator") -> dict:
    reply = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers[who])
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def post(desk: Desk, no: str, action: str, body: dict, who: str = "operator") -> dict:
    reply = desk.client.post(f"{API}/tickets/{no}/{action}", json=body, headers=desk.headers[who])
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def events_of(desk: Desk, topic: str) -> list[Envelope]:
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return [decode(row.payload) for row in rows if row.topic == topic]


def test_a_suggested_duplicate_is_merged_and_gets_the_masters_answer_and_survey(
    desk: Desk,
) -> None:
    master = file(desk, WATER)
    other = file(desk, NEAR, duplicate_of=master)
    listed = desk.client.get(f"{API}/merge-suggestions", headers=desk.headers["operator"]).json()
    assert [(s["ticket_no"], s["master_no"]) for s in listed] == [(other, master)]
    assert (
        desk.client.get(f"{API}/merge-suggestions", headers=desk.headers["water"]).status_code
        == 403
    )

    merged = post(desk, other, "merge", {"master_no": master, "reason": "同一栋楼停水"})
    assert (merged["state"], merged["repeat_of"]) == ("merged", master)
    assert f"并入工单 {master}" in merged["timeline"][-1]["reason"]
    assert other in ticket(desk, master, "water")["timeline"][-1]["reason"]
    queue = desk.client.get(f"{API}/tickets", headers=desk.headers["water"]).json()
    assert [t["ticket_no"] for t in queue] == [master], "the unit works the matter once"
    assert (
        desk.client.get(f"{API}/merge-suggestions", headers=desk.headers["operator"]).json() == []
    )

    post(desk, master, "accept", {}, "water")
    answer = "已抢修爆裂水管，3栋今日18时恢复供水。"
    post(desk, master, "resolve", {"text": answer}, "water")
    follower = ticket(desk, other)
    assert (follower["state"], follower["reply"]) == ("resolved", answer)
    with desk.sessions() as session:
        row = session.execute(select(Ticket).where(Ticket.ticket_no == other)).scalar_one()
        invites = session.execute(
            select(Clock).where(Clock.ticket_id == row.id, Clock.kind == clocks.SURVEY_INVITE)
        ).scalars()
        assert len(list(invites)) == 1, "its citizen is surveyed too"
    (resolved,) = [
        e
        for e in events_of(desk, TICKET_EVENTS)
        if e.data.ticket_no == other and e.data.kind == "resolved"
    ]
    settings = Settings(wechat_app_id="wx-test", wechat_app_secret="secret")
    with desk.sessions() as session:
        told = notification_for(session=session, settings=settings, event=resolved)
    assert told is not None and answer in told.text and told.wechat_openid == f"o{other}"


def test_merging_is_refused_where_it_makes_no_sense(desk: Desk) -> None:
    master = file(desk, WATER)
    other = file(desk, NEAR)
    body = {"master_no": master, "reason": "同一问题"}
    url = f"{API}/tickets/{other}/merge"
    assert desk.client.post(url, json=body, headers=desk.headers["water"]).status_code == 403
    to_self = dict(body, master_no=other)
    assert desk.client.post(url, json=to_self, headers=desk.headers["operator"]).status_code == 409
    unknown = dict(body, master_no="2611239999990")
    assert desk.client.post(url, json=unknown, headers=desk.headers["operator"]).status_code == 404
    for bad in ({"master_no": "abc", "reason": "同一问题"}, {"master_no": master}, {}):
        reply = desk.client.post(url, json=bad, headers=desk.headers["operator"])
        assert reply.status_code == 422, reply.text
    post(desk, other, "merge", body)
    third = file(desk, "幸福小区3栋停水了")
    into_follower = {"master_no": other, "reason": "同一问题"}
    refused = desk.client.post(
        f"{API}/tickets/{third}/merge", json=into_follower, headers=desk.headers["operator"]
    )
    assert refused.status_code == 409 and "不在办理中" in refused.json()["detail"]


def test_a_merge_from_the_dispatch_desk_is_undone_back_to_the_desk(desk: Desk) -> None:
    from feedbackloop.events import RoutingMethod

    master = file(desk, WATER)
    unsure = file(desk, NEAR, duplicate_of=master, method=RoutingMethod.TRIAGE)
    assert ticket(desk, unsure)["state"] == "triage"
    post(desk, unsure, "merge", {"master_no": master, "reason": "同一问题"})
    undone = post(desk, unsure, "unlink", {"reason": "其实是另一栋楼"})
    assert undone["state"] == "triage" and undone["repeat_of"] is None
    assert "转人工分派" in undone["timeline"][-1]["reason"]


def test_a_split_publishes_children_the_router_routes_and_the_centre_can_undo_it(
    desk: Desk,
) -> None:
    parent = file(desk, "幸福小区3栋停水两天了，另外小区门口的路灯也坏了一个月。", openid="oSPLIT")
    parts = [
        {"text": "幸福小区3栋停水两天了，请尽快恢复供水。"},
        {"title": "路灯不亮", "text": "幸福小区门口的路灯坏了一个月，晚上很黑。"},
    ]
    body = {"parts": parts, "reason": "一次来电反映两个问题"}
    assert (
        desk.client.post(
            f"{API}/tickets/{parent}/split", json=body, headers=desk.headers["water"]
        ).status_code
        == 403
    )
    for bad in ({"parts": parts[:1], "reason": "两个问题"}, {"parts": parts * 3, "reason": "多"}):
        reply = desk.client.post(
            f"{API}/tickets/{parent}/split", json=bad, headers=desk.headers["operator"]
        )
        assert reply.status_code == 422, reply.text

    closed = post(desk, parent, "split", body)
    assert closed["state"] == "closed" and len(closed["split_into"]) == 2
    children = [
        e for e in events_of(desk, FEEDBACK_RECEIVED) if isinstance(e.data, FeedbackReceived)
    ]
    numbers = [e.data.ticket_no for e in children]
    assert numbers == closed["split_into"]
    assert f"拆分为工单 {'、'.join(numbers)}" in closed["timeline"][-1]["reason"]
    for child in children:
        number = child.data.ticket_no
        assert damm.is_valid(number) and number[6] == "9" and number != parent
        assert child.data.split_from == parent
        assert child.data.contact is not None and child.data.contact.wechat_openid == "oSPLIT"
        assert child.data.location is not None and child.data.location.district == "A3区"
    assert [c.data.text for c in children] == [p["text"] for p in parts]
    assert children[1].data.title == "路灯不亮"

    early = desk.client.post(
        f"{API}/tickets/{parent}/unsplit",
        json={"reason": "拆错了"},
        headers=desk.headers["operator"],
    )
    assert early.status_code == 409 and "尚未全部派出" in early.json()["detail"]
    # The router routes each child on its own.
    desk.route(factories.routed(children[0], department="water"))
    desk.route(factories.routed(children[1], department="urban"))
    first, second = (ticket(desk, no) for no in numbers)
    assert (first["state"], first["department_code"], first["split_from"]) == (
        "routed",
        "water",
        parent,
    )
    assert (second["state"], second["department_code"]) == ("routed", "urban")
    assert first["repeat_of"] is None, "a split's children are not one caller's repeats"
    again = desk.client.post(
        f"{API}/tickets/{numbers[0]}/split", json=body, headers=desk.headers["operator"]
    )
    assert again.status_code == 409

    undone = post(desk, parent, "unsplit", {"reason": "其实是同一个问题"})
    assert undone["state"] == "triage" and undone["split_into"] == []
    assert all(ticket(desk, no)["state"] == "closed" for no in numbers)
    twice = desk.client.post(
        f"{API}/tickets/{parent}/unsplit",
        json={"reason": "再撤销"},
        headers=desk.headers["operator"],
    )
    assert twice.status_code == 409


def test_operators_merge_from_the_suggestions_page_and_split_on_the_ticket_page(
    desk: Desk,
) -> None:
    master = file(desk, WATER)
    other = file(desk, NEAR, duplicate_of=master)
    csrf = sign_in(desk.client, token_of(desk, "operator"))
    page = desk.client.get("/workbench/merges")
    assert page.status_code == 200
    assert f'data-ticket="{other}" data-master="{master}"' in page.text
    done = desk.client.post(
        f"/workbench/tickets/{other}/merge/into",
        data={"csrf": csrf, "master_no": master, "came_from": "suggestions"},
    )
    assert done.status_code == 200 and "已将工单" in done.text and "目前没有并单建议" in done.text
    assert ticket(desk, other)["state"] == "merged"

    two = file(desk, "幸福小区3栋停水，另外门口路灯也坏了。")
    shown = desk.client.get(f"/workbench/tickets/{two}").text
    assert 'action="/workbench/tickets/' + two + '/split/parts"' in shown
    short = desk.client.post(
        f"/workbench/tickets/{two}/split/parts",
        data={"csrf": csrf, "part": ["只有一项诉求的内容"], "reason": "两个问题"},
    )
    assert short.status_code == 422 and "2 到 5 项诉求" in short.text
    split = desk.client.post(
        f"/workbench/tickets/{two}/split/parts",
        data={
            "csrf": csrf,
            "part": ["幸福小区3栋停水了，请恢复供水。", "幸福小区门口路灯坏了，请修理。", ""],
            "reason": "两个问题",
        },
    )
    assert split.status_code == 200 and 'id="split-into"' in split.text
    assert "撤销拆分" in split.text
    forged = desk.client.post(
        f"/workbench/tickets/{two}/split/undo", data={"csrf": "forged", "reason": "拆错了"}
    )
    assert forged.status_code == 403
    unit = desk.client
    unit.cookies.clear()
    sign_in(unit, token_of(desk, "water"))
    assert "并单与拆分" not in unit.get(f"/workbench/tickets/{master}").text
    assert unit.get("/workbench/merges").status_code == 403
