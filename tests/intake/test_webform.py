"""The citizen web form `/form`: labels, a ticket on success, errors next to fields, no 5xx."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from feedbackloop.events import FeedbackReceived, decode
from feedbackloop.web.status_links import DEV_STATUS_LINK_KEY, status_secret
from services.intake.ticket_numbers import is_valid_ticket_no
from tests.intake.test_api import make_client, outbox

GOOD = {
    "title": "小区路灯不亮",
    "text": "幸福小区3号楼门口的路灯已经坏了一个月，晚上出行很不安全。",
    "district": "A3区",
    "address": "幸福小区3号楼",
    "contact_phone": "138 1234 5678",
    "callback_consent": "yes",
}


class Page(HTMLParser):
    """The parts of a page the tests look at: controls, labels, elements by id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.text_by_id: dict[str, str] = {}
        self.html_lang: str | None = None
        self.metas: list[dict[str, str]] = []
        self.external: list[str] = []
        self._open: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.html_lang = found.get("lang")
        if tag == "meta":
            self.metas.append(found)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(dict(found, tag=tag))
        if tag == "label" and "for" in found:
            self.label_for.add(found["for"])
        if tag in ("script", "link", "img", "iframe") or "src" in found:
            self.external.append(tag)
        if "id" in found and tag not in ("input", "meta"):
            self._open.append((tag, found["id"]))
            self.text_by_id[found["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for _tag, element_id in self._open:
            self.text_by_id[element_id] += data

    def control(self, name: str) -> dict[str, str]:
        """The attributes of the control with this name."""
        return next(c for c in self.controls if c.get("name") == name)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, rate_limit_per_minute=1000)


def token_of(client: TestClient) -> str:
    html = client.get("/form").text
    match = re.search(r'name="token" value="([A-Za-z0-9_-]+)"', html)
    assert match is not None
    return match.group(1)


def ticket_on(html: str) -> str:
    match = re.search(r'class="ticket">(\d+)<', html)
    assert match is not None, html
    return match.group(1)


def test_the_form_is_a_chinese_mobile_page_with_a_label_for_every_control(
    client: TestClient,
) -> None:
    reply = client.get("/form")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.headers["cache-control"] == "no-store"
    page = Page(reply.text)
    assert page.html_lang == "zh-CN"
    assert any(m.get("name") == "viewport" for m in page.metas)
    names = {c["name"] for c in page.controls}
    assert names == {
        "title",
        "text",
        "district",
        "address",
        "contact_phone",
        "callback_consent",
        "publication_consent",
    }
    for control in page.controls:
        assert control["id"] in page.label_for, control
    assert page.control("text").get("required") is not None
    assert page.control("callback_consent")["type"] == "checkbox"
    assert 'type="submit"' in reply.text
    assert page.external == []  # nothing loaded from elsewhere
    for label in ("标题", "诉求内容", "所在区县", "详细地址", "联系电话", "同意回访"):
        assert label in reply.text


def test_a_good_form_shows_the_ticket_number_and_sends_one_item(client: TestClient) -> None:
    reply = client.post("/form", data=dict(GOOD, token=token_of(client)))
    assert reply.status_code == 200
    ticket_no = ticket_on(reply.text)
    assert is_valid_ticket_no(ticket_no)
    assert f"工单号 {ticket_no}。请记下工单号" in reply.text
    # The status link carries the secret that shows the citizen their whole ticket.
    secret = status_secret(key=DEV_STATUS_LINK_KEY, ticket_no=ticket_no)
    assert f'href="http://127.0.0.1:8003/t/{ticket_no}?k={secret}"' in reply.text
    rows = outbox(client)
    assert len(rows) == 1
    event = decode(rows[0].payload, expect=FeedbackReceived).data
    assert event.ticket_no == ticket_no and event.channel == "web"
    assert event.title == GOOD["title"]
    assert event.location is not None
    assert (event.location.district, event.location.address) == ("A3区", "幸福小区3号楼")
    assert event.contact is not None
    assert event.contact.phone_masked == "138****5678" and event.contact.callback_consent


def test_pressing_submit_twice_or_reloading_gives_the_same_ticket(client: TestClient) -> None:
    form = dict(GOOD, token=token_of(client))
    first = ticket_on(client.post("/form", data=form).text)
    again = ticket_on(client.post("/form", data=form).text)
    assert first == again
    assert len(outbox(client)) == 1
    # Back to the same page, another problem written in: a ticket of its own.
    other = ticket_on(
        client.post("/form", data=dict(form, text="另一件事：楼下垃圾三天没人清运。")).text
    )
    assert other != first
    assert len(outbox(client)) == 2


def test_errors_are_shown_next_to_their_fields_and_the_input_is_kept(client: TestClient) -> None:
    form = {
        "token": token_of(client),
        "title": '<script>alert("x")</script>',
        "text": "坏了",
        "contact_phone": "12345",
        "callback_consent": "yes",
        "address": "幸福小区",
    }
    reply = client.post("/form", data=form)
    assert reply.status_code == 422
    page = Page(reply.text)
    assert page.text_by_id["text-error"] == "诉求内容太短，至少需要 5 个字"
    assert "有效的手机号码" in page.text_by_id["contact_phone-error"]
    for name in ("text", "contact_phone"):
        control = page.control(name)
        assert control["aria-invalid"] == "true"
        assert f"{name}-error" in control["aria-describedby"].split()
    assert page.text_by_id["text"] == "坏了"
    assert page.control("contact_phone")["value"] == "12345"
    assert page.control("address")["value"] == "幸福小区"
    assert page.control("callback_consent").get("checked") is not None
    assert page.control("title")["value"] == form["title"]
    assert "<script>" not in reply.text and "&lt;script&gt;" in reply.text
    assert f'value="{form["token"]}"' in reply.text  # a corrected form still counts as one
    assert outbox(client) == []


def test_a_missing_text_is_asked_for_next_to_the_field(client: TestClient) -> None:
    reply = client.post("/form", data={"title": "路灯"})
    assert reply.status_code == 422
    assert Page(reply.text).text_by_id["text-error"] == "请填写诉求内容"


def test_a_phone_without_consent_asks_for_consent_next_to_the_box(client: TestClient) -> None:
    form = dict(GOOD, token=token_of(client))
    del form["callback_consent"]
    reply = client.post("/form", data=form)
    assert reply.status_code == 422
    assert "回访需要您的同意" in Page(reply.text).text_by_id["callback_consent-error"]
    assert outbox(client) == []
    without_phone = dict(form, contact_phone="")
    assert client.post("/form", data=without_phone).status_code == 200
    assert decode(outbox(client)[0].payload, expect=FeedbackReceived).data.contact is None


def test_a_district_not_on_the_list_is_refused(client: TestClient) -> None:
    reply = client.post("/form", data=dict(GOOD, district="<b>火星区</b>"))
    assert reply.status_code == 422
    assert Page(reply.text).text_by_id["district-error"] == "请从列表中选择所在区县"
    assert "<b>火星区" not in reply.text


def test_too_many_forms_get_429_with_the_input_kept(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=2)
    replies = [
        client.post("/form", data=dict(GOOD, text=f"第{n}次反映：路灯坏了一个月了。"))
        for n in range(3)
    ]
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert 1 <= int(replies[-1].headers["Retry-After"]) <= 60
    assert "太频繁" in replies[-1].text
    assert Page(replies[-1].text).text_by_id["text"] == "第2次反映：路灯坏了一个月了。"
    assert len(outbox(client)) == 2


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"&&&===&%%%&text=%ZZ", "application/x-www-form-urlencoded"),
        (b"text=%D5%FD%B3%A3%B5%C4%CB%DF%C7%F3", "application/x-www-form-urlencoded"),  # GBK
        ("text=路灯坏了一个月了".encode("gbk"), "application/x-www-form-urlencoded"),
        ("text=路灯坏了一个月了".encode(), "application/x-www-form-urlencoded"),
        (b"text=%00%00%00%00%00%00&token=%00", "application/x-www-form-urlencoded"),
        (
            b"callback_consent=maybe&district=A3%E5%8C%BA&text[]=1",
            "application/x-www-form-urlencoded",
        ),
        (b"text=" + b"a" * 6000 + b"&title=" + b"b" * 300, "application/x-www-form-urlencoded"),
        (b"&".join(b"f%d=1" % n for n in range(200)), "application/x-www-form-urlencoded"),
        (b'{"text": "JSON is not a form"}', "application/json"),
        (b"--x\r\nContent-Disposition: form-data; name=text\r\n\r\n", "multipart/form-data"),
        (
            b"--b\r\nContent-Disposition: form-data; name=text; filename=a.txt\r\n\r\n"
            b"hi\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (b"\xff\xfe\x00garbage", "text/plain"),
    ],
)
def test_garbage_gets_a_4xx_never_a_5xx(
    client: TestClient, content: bytes, content_type: str
) -> None:
    reply = client.post("/form", content=content, headers={"content-type": content_type})
    assert 400 <= reply.status_code < 500, reply.text
    assert outbox(client) == []


def test_a_huge_form_gets_413(client: TestClient) -> None:
    reply = client.post("/form", data=dict(GOOD, text="很" * 30_000))
    assert reply.status_code == 413
    assert outbox(client) == []


def test_repeated_and_unknown_fields_do_not_break_the_form(client: TestClient) -> None:
    pairs = [("text", "第一条路灯坏了很久了"), ("text", "第二条"), ("unknown", "1")]
    content = urlencode([*pairs, ("callback_consent", "no")]).encode()
    reply = client.post(
        "/form", content=content, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert reply.status_code == 200
    event = decode(outbox(client)[0].payload, expect=FeedbackReceived).data
    assert event.text == "第一条路灯坏了很久了"
