"""The public board's pages and feeds: filters, paging, feeds, hostile input, moderation."""

import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackloop.web.status_links import status_secret
from tests.followup.conftest import Desk, make_desk
from tests.followup.publication.helpers import file, resolve
from tests.followup.test_web import csrf_of, sign_in


def numbers_on(html: str) -> list[str]:
    return re.findall(r'<article class="card board-item" data-ticket="(\d+)"', html)


def test_the_board_lists_answered_items_with_filters_search_and_feeds(desk: Desk) -> None:
    lamp = file(desk, "幸福小区门口路灯坏了，我叫张伟，电话13912345678", district="芙蓉区")
    noise = file(desk, "工地夜间施工噪音扰民", district="天心区", title="夜间施工噪音")
    hidden = file(desk, "没有同意公开的诉求内容", consent=False)
    waiting = file(desk, "还没有答复的诉求")
    for number in (lamp, noise, hidden):
        resolve(desk, number)
    page = desk.client.get("/board")
    assert page.status_code == 200
    assert numbers_on(page.text) == [noise, lamp]  # the latest answer first
    assert "张伟" not in page.text and "13912345678" not in page.text
    assert hidden not in page.text and waiting not in page.text
    assert '<html lang="zh-CN">' in page.text and "公开栏" in page.text
    assert numbers_on(desk.client.get("/board", params={"district": "天心区"}).text) == [noise]
    assert numbers_on(desk.client.get("/board", params={"q": "幸福小区"}).text) == [lamp]
    assert numbers_on(desk.client.get("/board", params={"q": "恢复照明"}).text) == [noise, lamp]
    assert numbers_on(desk.client.get("/board", params={"unit": "water"}).text) == []
    both = desk.client.get("/board", params={"unit": "urban", "period": "7"})
    assert numbers_on(both.text) == [noise, lamp]
    feed = desk.client.get("/board.json", params={"district": "芙蓉区"}).json()
    assert feed["total"] == 1 and feed["items"][0]["ticket_no"] == lamp
    assert "张伟" not in str(feed) and "13912345678" not in str(feed)
    assert set(feed["items"][0]) >= {"text", "reply", "category", "district", "resolved_at"}
    rss = desk.client.get("/board.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    channel = ET.fromstring(rss.content).find("channel")
    assert channel is not None
    assert [i.findtext("guid") for i in channel.findall("item")] == [
        f"12345-{noise}",
        f"12345-{lamp}",
    ]
    assert channel.findall("item")[0].findtext("title") == "夜间施工噪音"


def test_items_page_and_paging(desk: Desk) -> None:
    numbers = [file(desk, f"第{n}条路灯损坏的诉求内容") for n in range(23)]
    for number in numbers:
        resolve(desk, number)
    first = desk.client.get("/board")
    assert len(numbers_on(first.text)) == 20 and "第 1 / 2 页" in first.text
    second = desk.client.get("/board", params={"page": "2"})
    assert len(numbers_on(second.text)) == 3
    assert set(numbers_on(first.text)) | set(numbers_on(second.text)) == set(numbers)
    assert desk.client.get("/board.json", params={"per_page": "5"}).json()["total"] == 23
    item = desk.client.get(f"/board/{numbers[0]}")
    assert item.status_code == 200 and "已更换路灯灯泡，恢复照明" in item.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "0"}, "页码应当是 1 到 500 之间的整数"),
        ({"page": "-1"}, "页码"),
        ({"page": "1e9"}, "页码"),
        ({"page": "99999999999999999999"}, "页码"),
        ({"period": "forever"}, "时间范围不正确"),
        ({"q": "路" * 51}, "搜索词不能超过 50 个字"),
        ({"q": "a\x00b"}, "搜索词含有不能识别的字符"),
        ({"unit": "<script>"}, "承办单位不正确"),
        ({"district": "区" * 60}, "区县不能超过 50 个字"),
    ],
)
def test_hostile_parameters_get_a_clear_400_in_chinese(
    desk: Desk, params: dict[str, str], message: str
) -> None:
    page = desk.client.get("/board", params=params)
    assert page.status_code == 400 and message in page.text
    feed = desk.client.get("/board.json", params=params)
    assert feed.status_code == 400 and message in feed.json()["detail"]
    assert desk.client.get("/board.rss", params=params).status_code == 400


def test_json_page_size_is_bounded(desk: Desk) -> None:
    assert desk.client.get("/board.json", params={"per_page": "51"}).status_code == 400
    assert desk.client.get("/board.json", params={"per_page": "50"}).status_code == 200


def test_markup_in_a_citizens_text_is_shown_as_text(desk: Desk) -> None:
    number = file(desk, '<script>alert("x")</script><img src=x onerror=alert(1)>灯坏了')
    resolve(desk, number, reply="<b>已修复</b>")
    for path in ("/board", f"/board/{number}"):
        html = desk.client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>已修" not in html
        assert "&lt;script&gt;" in html
    rss = desk.client.get("/board.rss").text
    assert "<script>" not in rss and "&lt;script&gt;" in rss
    assert desk.client.get("/board", params={"q": "<script>"}).status_code == 200


def test_unknown_unanswered_and_withheld_items_are_404(desk: Desk) -> None:
    waiting = file(desk)
    withheld = file(desk)
    resolve(desk, withheld)
    operator = desk.headers["operator"]
    path = f"/api/v1/workbench/tickets/{withheld}/publication/withhold"
    assert desk.client.post(path, headers=operator, json={"reason": "涉及个人纠纷"}).is_success
    for number in (waiting, withheld, "0000000000000", "x" * 300, "%00"):
        page = desk.client.get(f"/board/{number}")
        assert page.status_code == 404 and "公开栏中没有这条诉求" in page.text
    assert withheld not in desk.client.get("/board").text


def test_the_board_is_rate_limited_per_address(desk: Desk) -> None:
    desk.followup.settings.board_views_per_minute = 3
    assert [desk.client.get("/board").status_code for _ in range(3)] == [200, 200, 200]
    refused = desk.client.get("/board.json")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "查询太频繁" in refused.json()["detail"]


def test_the_status_page_gives_and_withdraws_consent_with_the_signed_link(desk: Desk) -> None:
    number = file(desk, consent=False)
    resolve(desk, number)
    secret = status_secret(key=desk.followup.settings.status_link_key, ticket_no=number)
    page = desk.client.get(f"/t/{number}", params={"k": secret})
    assert "同意公开" in page.text and 'id="publication-toggle"' in page.text
    assert "publication-toggle" not in desk.client.get(f"/t/{number}").text  # number alone
    forged = desk.client.post(f"/t/{number}/publication", data={"k": "forged", "consent": "yes"})
    assert forged.status_code == 403
    agreed = desk.client.post(f"/t/{number}/publication", data={"k": secret, "consent": "yes"})
    assert agreed.status_code == 200 and "您已同意公开" in agreed.text
    assert desk.client.get(f"/board/{number}").status_code == 200
    page = desk.client.get(f"/t/{number}", params={"k": secret})
    assert "撤回公开" in page.text and "已在公开栏公开" in page.text
    gone = desk.client.post(f"/t/{number}/publication", data={"k": secret, "consent": "no"})
    assert gone.status_code == 200 and "您已撤回公开" in gone.text
    assert desk.client.get(f"/board/{number}").status_code == 404
    bad = desk.client.post(f"/t/{number}/publication", data={"k": secret, "consent": "maybe"})
    assert bad.status_code == 400


def test_operators_withhold_and_restore_from_the_moderation_list(desk: Desk) -> None:
    number = file(desk)
    resolve(desk, number)
    token = desk.headers["operator"]["Authorization"].removeprefix("Bearer ")
    csrf = sign_in(desk.client, token)
    listing = desk.client.get("/workbench/publication")
    assert listing.status_code == 200 and number in listing.text
    form = {"csrf": csrf, "reason": "含有邻居的姓名", "came_from": "list"}
    done = desk.client.post(f"/workbench/tickets/{number}/publication/withhold", data=form)
    assert done.status_code == 200 and f"工单 {number} 已设为暂不公开" in done.text
    assert desk.client.get(f"/board/{number}").status_code == 404
    ticket_page = desk.client.get(f"/workbench/tickets/{number}")
    assert "暂不公开（" in ticket_page.text and "含有邻居的姓名" in ticket_page.text
    csrf = csrf_of(ticket_page.text)
    restored = desk.client.post(
        f"/workbench/tickets/{number}/publication/restore", data={"csrf": csrf}
    )
    assert restored.status_code == 200 and "已在" in restored.text
    assert desk.client.get(f"/board/{number}").status_code == 200


def test_departments_cannot_moderate(desk: Desk) -> None:
    token = desk.headers["urban"]["Authorization"].removeprefix("Bearer ")
    sign_in(desk.client, token)
    assert desk.client.get("/workbench/publication").status_code == 403


NAMES = st.sampled_from(["q", "category", "unit", "district", "period", "page", "per_page", "x"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.dictionaries(NAMES, st.text(max_size=80), max_size=6))
def test_no_query_string_gets_a_5xx(params: dict[str, str]) -> None:
    for path in ("/board", "/board.json", "/board.rss"):
        reply = FUZZED.client.get(path, params=params)
        assert reply.status_code in (200, 400), (path, params, reply.text)
        if reply.status_code == 400:
            body = reply.text if path == "/board" else reply.json()["detail"]
            assert re.search(r"[\u4e00-\u9fff]", body), body


FUZZED = make_desk(f"sqlite:///{Path(tempfile.mkdtemp()) / 'board.db'}")
FUZZED.followup.settings.board_views_per_minute = 100_000
