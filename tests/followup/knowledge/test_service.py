"""The knowledge base API: who may keep which articles, validity, search and its privacy."""

import itertools
from datetime import UTC, datetime, timedelta

from services.followup.knowledge.views import beijing_today
from tests import factories
from tests.followup.conftest import Desk

ARTICLES = "/api/v1/workbench/articles"
SEARCH = "/api/v1/workbench/knowledge/search"
_numbers = itertools.count(1)

WATER_CUT = {
    "title": "计划停水期间如何临时取水",
    "body_md": (
        "管网维修造成停水时，水务集团会在小区门口设置临时供水车。\n停水超过24小时可拨打96116。"
    ),
}
PARKING = {
    "title": "小区违章停车如何处理",
    "body_md": "占用消防通道的违停车辆，由城管和交警联合处理，可拍照上传。",
}


def add(desk: Desk, who: str, body: dict, **extra: object) -> tuple[int, dict]:
    reply = desk.client.post(ARTICLES, headers=desk.headers[who], json=body | extra)
    return reply.status_code, reply.json()


def answered_ticket(desk: Desk, text: str, reply: str) -> str:
    number = f"26112340{next(_numbers):05d}"
    item = factories.received(text, received_at=datetime.now(UTC), ticket_no=number)
    desk.route(factories.routed(item))  # routed to urban
    headers = desk.headers["urban"]
    base = f"/api/v1/workbench/tickets/{number}"
    assert desk.client.post(f"{base}/accept", headers=headers).status_code == 200
    done = desk.client.post(f"{base}/resolve", headers=headers, json={"text": reply})
    assert done.status_code == 200, done.json()
    return number


def test_a_unit_keeps_its_own_articles_and_not_another_units(desk: Desk) -> None:
    status, article = add(desk, "water", WATER_CUT)
    assert status == 201, article
    assert (article["department_code"], article["created_by"]) == ("water", "市水务局")
    url = f"{ARTICLES}/{article['id']}"
    refused = desk.client.patch(url, headers=desk.headers["urban"], json={"title": "改"})
    assert refused.status_code == 403
    assert "本单位" in refused.json()["detail"]
    assert desk.client.post(f"{url}/retire", headers=desk.headers["urban"]).status_code == 403
    status, _ = add(desk, "urban", PARKING, department_code="water")
    assert status == 403
    changed = desk.client.patch(url, headers=desk.headers["water"], json={"title": "停水取水"})
    assert changed.status_code == 200 and changed.json()["title"] == "停水取水"
    by_operator = desk.client.patch(url, headers=desk.headers["operator"], json={"body_md": "新"})
    assert by_operator.json()["updated_by"] == "话务员小李"
    retired = desk.client.post(f"{url}/retire", headers=desk.headers["water"])
    assert retired.status_code == 200 and retired.json()["retired_at"]
    listed = desk.client.get(ARTICLES, headers=desk.headers["operator"]).json()
    assert listed == []


def test_operators_name_the_department_and_lists_filter_by_it_and_validity(desk: Desk) -> None:
    status, problem = add(desk, "operator", PARKING)
    assert status == 422 and "单位" in problem["detail"]
    today = beijing_today()
    add(desk, "operator", PARKING, department_code="urban")
    add(desk, "water", WATER_CUT, valid_until=str(today - timedelta(days=1)))
    add(desk, "water", WATER_CUT | {"title": "明年起施行"}, valid_from=str(today + timedelta(1)))
    headers = desk.headers["urban"]
    water = desk.client.get(ARTICLES, headers=headers, params={"department_code": "water"})
    assert len(water.json()) == 2
    valid = desk.client.get(ARTICLES, headers=headers, params={"valid_now": "true"}).json()
    assert [a["title"] for a in valid] == [PARKING["title"]]
    later = desk.client.get(ARTICLES, headers=headers, params={"valid_on": "2099-01-01"}).json()
    assert {a["title"] for a in later} == {PARKING["title"], "明年起施行"}


def test_search_ranks_the_relevant_article_first_and_skips_invalid_ones(desk: Desk) -> None:
    add(desk, "urban", PARKING, department_code="urban")
    add(desk, "water", WATER_CUT)
    add(desk, "water", WATER_CUT | {"title": "已过期的停水说明"}, valid_until="2020-01-01")
    found = desk.client.get(
        SEARCH,
        headers=desk.headers["urban"],
        params={"q": "我们小区突然停水了，已经一整天没有水，到哪里可以取水？"},
    )
    assert found.status_code == 200, found.json()
    hits = found.json()
    assert hits[0]["kind"] == "article"
    assert hits[0]["title"] == WATER_CUT["title"]
    assert "已过期的停水说明" not in [h["title"] for h in hits]
    parked = desk.client.get(
        SEARCH, headers=desk.headers["water"], params={"q": "有车长期堵住消防通道违停"}
    ).json()
    assert parked[0]["title"] == PARKING["title"]


def test_a_past_ticket_is_found_by_its_words_but_shows_only_the_reply(desk: Desk) -> None:
    citizen = "幸福小区路灯坏了三个月，晚上漆黑一片，老人出门摔倒了，住户王某某很着急"
    answer = "经现场核查，已更换幸福小区内损坏的路灯灯头，恢复夜间照明"
    number = answered_ticket(desk, citizen, answer)
    hits = desk.client.get(
        SEARCH, headers=desk.headers["water"], params={"q": "幸福小区路灯坏了，晚上很黑"}
    ).json()
    ticket_hits = [h for h in hits if h["kind"] == "ticket"]
    assert ticket_hits and ticket_hits[0]["ticket_no"] == number
    assert answer in ticket_hits[0]["snippet"]
    shown = str(hits)
    for words in ("老人出门摔倒", "王某某", "三个月"):
        assert words not in shown


def test_hostile_input_gets_a_4xx_in_chinese(desk: Desk) -> None:
    headers = desk.headers["water"]
    cases = [
        WATER_CUT | {"title": "长" * 101},
        WATER_CUT | {"body_md": "字" * 20_001},
        WATER_CUT | {"title": "停水\x00"},
        WATER_CUT | {"valid_from": "2026-13-40"},
        WATER_CUT | {"valid_from": "2026-12-10", "valid_until": "2026-12-01"},
        WATER_CUT | {"title": "   "},
        {"title": 5},
    ]
    for body in cases:
        reply = desk.client.post(ARTICLES, headers=headers, json=body)
        assert reply.status_code == 422, body
        assert reply.json()["detail"]
    _, article = add(desk, "water", WATER_CUT, valid_from="2026-12-10")
    backwards = desk.client.patch(
        f"{ARTICLES}/{article['id']}", headers=headers, json={"valid_until": "2026-12-01"}
    )
    assert backwards.status_code == 422 and "结束日期" in backwards.json()["detail"]
    blank = desk.client.patch(f"{ARTICLES}/{article['id']}", headers=headers, json={"title": " "})
    assert blank.status_code == 422
    for params in ({"q": "停水\x00"}, {"q": "水" * 2001}, {"q": ""}, {"q": "水", "limit": 99}):
        assert desk.client.get(SEARCH, headers=headers, params=params).status_code == 422
    assert desk.client.get(SEARCH, params={"q": "水"}).status_code == 401
    assert desk.client.get(f"{ARTICLES}/99999999", headers=headers).status_code == 404
    assert desk.client.get(f"{ARTICLES}/abc", headers=headers).status_code == 422
    assert desk.client.get(f"{ARTICLES}/{10**30}", headers=headers).status_code == 422
    nothing = desk.client.get(SEARCH, headers=headers, params={"q": "。。。"})
    assert nothing.status_code == 200
