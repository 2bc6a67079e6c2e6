"""The workbench pages over HTTP: sign-in, CSRF, who sees what, errors next to the field.

The browser tests (tests/browser) drive the same pages in Chromium; these check the rules
that a browser cannot show directly (cookie attributes, refused forgeries, status codes).
"""

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from feedbackloop.events import Attachment, Contact, Location
from services.followup.models import Credential
from tests import factories
from tests.followup.conftest import Desk, make_desk

API = "/api/v1/workbench"
_numbers = itertools.count(1)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    """A followup on SQLite (the pages call the API's functions, tested on both stores)."""
    made = make_desk(f"sqlite:///{tmp_path / 'followup.db'}")
    yield made
    made.client.close()


def open_ticket(desk: Desk, department: str = "water", hours_ago: float = 0, **item: object) -> str:
    number = f"26112320{next(_numbers):05d}"
    received = factories.received(
        str(item.pop("text", "幸福小区3栋停水两天了")),
        ticket_no=number,
        received_at=datetime.now(UTC) - timedelta(hours=hours_ago),
        **item,
    )
    desk.route(factories.routed(received, department=department))
    return number


def token_of(desk: Desk, who: str) -> str:
    return desk.headers[who]["Authorization"].removeprefix("Bearer ")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def errors_of(html: str) -> list[str]:
    return re.findall(r'class="(?:error|flash flash-error)"[^>]*>([^<]+)<', html)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in through the form; the CSRF token of the signed-in session."""
    form = client.get("/workbench/login")
    done = client.post("/workbench/login", data={"token": token, "csrf": csrf_of(form.text)})
    assert done.status_code == 200, done.text
    return csrf_of(done.text)


def test_signing_in_sets_a_signed_httponly_same_site_strict_cookie(desk: Desk) -> None:
    client = desk.client
    assert client.get("/workbench", follow_redirects=False).headers["location"] == (
        "/workbench/login"
    )
    form = client.get("/workbench/login")
    bad = client.post("/workbench/login", data={"token": "abc.def", "csrf": csrf_of(form.text)})
    assert bad.status_code == 401
    assert errors_of(bad.text) == [
        "访问凭证不正确或已停用，请核对后重新输入（凭证由管理员用 add-credential 生成）"
    ]
    assert (
        'aria-invalid="true"' in bad.text
        and 'aria-describedby="login-token-hint login-token-error"' in bad.text
    )
    empty = client.post("/workbench/login", data={"token": " ", "csrf": csrf_of(form.text)})
    assert (empty.status_code, errors_of(empty.text)) == (422, ["请输入本单位的访问凭证"])

    signed_in = client.post(
        "/workbench/login",
        data={"token": token_of(desk, "water"), "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/workbench")
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("feedbackloop_workbench=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert token_of(desk, "water").split(".")[1] not in cookie  # the secret stays out of it
    page = client.get("/workbench")
    assert "市水务局（承办单位）" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_tampered_or_foreign_cookie_is_not_a_session(desk: Desk) -> None:
    sign_in(desk.client, token_of(desk, "water"))
    value = desk.client.cookies["feedbackloop_workbench"]
    body, _, signature = value.partition(".")
    forged = TestClient(
        desk.client.app, cookies={"feedbackloop_workbench": body + ".x" + signature}
    )
    assert forged.get("/workbench", follow_redirects=False).status_code == 303


def test_a_form_without_the_sessions_csrf_token_changes_nothing(desk: Desk) -> None:
    no = open_ticket(desk)
    csrf = sign_in(desk.client, token_of(desk, "water"))
    for token in ("", csrf[:-2] + "xx"):
        refused = desk.client.post(f"/workbench/tickets/{no}/accept", data={"csrf": token})
        assert refused.status_code == 403 and "表单已过期或来源不明" in refused.text
    api = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert api["state"] == "routed"
    # A token from another browser's session does not fit this one either.
    other = TestClient(desk.client.app)
    other_csrf = sign_in(other, token_of(desk, "water"))
    assert other_csrf != csrf
    refused = desk.client.post(f"/workbench/tickets/{no}/accept", data={"csrf": other_csrf})
    assert refused.status_code == 403


def test_a_department_sees_only_its_own_tickets(desk: Desk) -> None:
    mine, theirs = open_ticket(desk, "water"), open_ticket(desk, "urban")
    csrf = sign_in(desk.client, token_of(desk, "water"))
    queue = desk.client.get("/workbench").text
    assert mine in queue and theirs not in queue
    page = desk.client.get(f"/workbench/tickets/{theirs}")
    assert page.status_code == 404 and "没有找到工单" in page.text
    acted = desk.client.post(f"/workbench/tickets/{theirs}/accept", data={"csrf": csrf})
    assert acted.status_code == 404
    # Operators' pages are not for departments.
    assert desk.client.get("/workbench/extensions").status_code == 403


def test_the_queue_shows_each_tickets_sla_state_as_the_api_does(desk: Desk) -> None:
    late = open_ticket(desk, hours_ago=30)  # water: 24 h on the wall clock
    soon = open_ticket(desk, hours_ago=20)  # past the 75% warning (18 h)
    fresh = open_ticket(desk, hours_ago=0)
    sign_in(desk.client, token_of(desk, "water"))
    page = desk.client.get("/workbench").text
    shown = re.findall(r'data-ticket="(\d+)".*?class="sla sla-(\w+)"', page, re.S)
    api = desk.client.get(f"{API}/tickets", headers=desk.headers["water"]).json()
    assert shown == [(t["ticket_no"], t["sla_state"]) for t in api]
    assert shown == [(late, "overdue"), (soon, "due_soon"), (fresh, "on_time")]

    overdue = desk.client.get("/workbench", params={"due": "overdue"}).text
    assert re.findall(r'data-ticket="(\d+)"', overdue) == [late]
    within = desk.client.get("/workbench", params={"due": "24"}).text
    assert re.findall(r'data-ticket="(\d+)"', within) == [soon, fresh]
    # Unknown filter values are ignored rather than failing.
    assert desk.client.get("/workbench", params={"state": "<x>", "due": "-1"}).status_code == 200


def test_the_ticket_page_shows_the_masked_text_attachments_location_and_timeline(
    desk: Desk,
) -> None:
    no = open_ticket(
        desk,
        text="3栋停水，我的电话138****5678",
        title="停水",
        location=Location(address="幸福小区3栋", district="A3区", lat=39.91, lng=116.39),
        attachments=[
            Attachment(kind="image", url="https://mmbiz.example/p.jpg"),
            Attachment(kind="voice", media_id="MEDIA123"),
        ],
        contact=Contact(phone_masked="138****5678", callback_consent=True),
    )
    sign_in(desk.client, token_of(desk, "water"))
    page = desk.client.get(f"/workbench/tickets/{no}").text
    expected = (
        "3栋停水，我的电话138****5678",
        "幸福小区3栋（A3区）",
        "39.91000, 116.39000",
        'href="https://mmbiz.example/p.jpg" rel="noopener noreferrer"',
        "微信素材编号 MEDIA123",
        "联系电话</dt><dd>138****5678",
        'data-kind="opened"',
    )
    for shown in expected:
        assert shown in page, shown
    api = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert api["location"] == {
        "address": "幸福小区3栋",
        "district": "A3区",
        "lat": 39.91,
        "lng": 116.39,
    }
    assert api["attachments"] == [
        {"kind": "image", "url": "https://mmbiz.example/p.jpg", "media_id": None},
        {"kind": "voice", "url": None, "media_id": "MEDIA123"},
    ]
    assert api["phone_masked"] == "138****5678"


def test_bad_input_is_a_4xx_with_the_message_next_to_the_field(desk: Desk) -> None:
    no = open_ticket(desk)
    csrf = sign_in(desk.client, token_of(desk, "water"))
    post = desk.client.post
    early = post(f"/workbench/tickets/{no}/resolve", data={"csrf": csrf, "text": "已修好"})
    assert early.status_code == 409
    assert errors_of(early.text) == [
        "工单当前状态为“已派单”，不能办结（只有办理中、重新办理中的工单可以）"
    ]
    assert post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf}).status_code == 200
    cases = [
        ("resolve", {"text": "  "}, {"resolve-text-error": "请填写办理结果"}),
        ("note", {"text": "长" * 2001}, {"note-text-error": "备注内容不能超过2000个字"}),
        (
            "return",
            {"reason": "不", "reason_code": "made_up"},
            {
                "return-reason_code-error": "请选择退单原因",
                "return-reason-error": "请填写退单理由，至少2个字",
            },
        ),
        (
            "extension",
            {"working_days": "31", "reason": "需要协调"},
            {"extension-working_days-error": "延长的工作日数不能大于30"},
        ),
        (
            "extension",
            {"working_days": "三", "reason": ""},
            {
                "extension-working_days-error": "请填写延长的工作日数",
                "extension-reason-error": "请填写申请理由，至少2个字",
            },
        ),
    ]
    for action, form, expected in cases:
        page = post(f"/workbench/tickets/{no}/{action}", data={"csrf": csrf, **form})
        assert page.status_code == 422, (action, page.text)
        shown = dict(re.findall(r'<p class="error" id="([\w-]+)">([^<]+)</p>', page.text))
        assert shown == expected
        for field_id in expected:  # the control points at its message
            assert re.search(rf'aria-describedby="[^"]*{field_id}"', page.text), field_id
        assert f'id="action-{action}" open' in page.text  # the form with the error stays open
    assert post(f"/workbench/tickets/{no}/nonsense", data={"csrf": csrf}).status_code == 404
    api = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert [e["kind"] for e in api["timeline"]] == ["opened", "accepted"]


def test_a_department_works_a_ticket_and_an_operator_approves_its_extension(
    desk: Desk,
) -> None:
    no = open_ticket(desk)
    csrf = sign_in(desk.client, token_of(desk, "water"))
    post = desk.client.post
    accepted = post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf})
    assert "已签收，请在办结时限内办理" in accepted.text and 'id="state">办理中' in accepted.text
    for action, form in (("note", {"text": "已派人查看"}), ("reply", {"text": "明天上午到场"})):
        assert post(f"/workbench/tickets/{no}/{action}", data={"csrf": csrf, **form}).is_success
    asked = post(
        f"/workbench/tickets/{no}/extension",
        data={"csrf": csrf, "working_days": "3", "reason": "需要协调施工单位"},
    )
    assert "延期申请已提交，等待话务中心审批" in asked.text
    before = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()

    operator = TestClient(desk.client.app)
    operator_csrf = sign_in(operator, token_of(desk, "operator"))
    listing = operator.get("/workbench/extensions").text
    assert f'data-ticket="{no}"' in listing and "需要协调施工单位" in listing
    decided = operator.post(
        f"/workbench/tickets/{no}/extension/decision",
        data={"csrf": operator_csrf, "approve": "yes"},
    )
    assert f"已同意工单 {no} 的延期申请，办结时限已顺延" in decided.text
    assert f'data-ticket="{no}"' not in decided.text
    again = operator.post(
        f"/workbench/tickets/{no}/extension/decision", data={"csrf": operator_csrf, "approve": "no"}
    )
    assert again.status_code == 409 and "没有待审批的延期申请" in again.text

    after = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert after["due_at"] > before["due_at"]
    assert [e["kind"] for e in after["timeline"]][-1] == "extended"
    assert operator.get(f"{API}/extensions", headers=desk.headers["operator"]).json() == []


def test_a_disabled_credential_ends_its_sessions(desk: Desk) -> None:
    sign_in(desk.client, token_of(desk, "water"))
    assert desk.client.get("/workbench").status_code == 200
    with desk.sessions.begin() as session:
        credential = session.get(Credential, token_of(desk, "water").split(".")[0])
        assert credential is not None
        credential.disabled_at = datetime.now(UTC)
    assert desk.client.get("/workbench", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session(desk: Desk) -> None:
    csrf = sign_in(desk.client, token_of(desk, "water"))
    bye = desk.client.post("/workbench/logout", data={"csrf": csrf})
    assert "您已安全退出" in bye.text
    assert desk.client.get("/workbench", follow_redirects=False).status_code == 303


@pytest.fixture(params=["sqlite", "postgresql"])
def any_desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """A followup on SQLite and on PostgreSQL (which refuses NUL characters in text)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'followup.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    made = make_desk(url)
    yield made
    made.client.close()


HOSTILE = ["\x00", "a\x00b", "<script>alert(1)</script>", "²", "‮evil", "😀" * 3000, "%00", " "]


def test_hostile_form_input_never_gives_a_5xx(any_desk: Desk) -> None:
    desk = any_desk
    no = open_ticket(desk)
    client = desk.client
    form = client.get("/workbench/login")
    for token in [*HOSTILE, "abc.\x00", "0" * 500]:
        reply = client.post("/workbench/login", data={"token": token, "csrf": csrf_of(form.text)})
        assert reply.status_code in (401, 422), token
    csrf = sign_in(client, token_of(desk, "water"))
    assert client.post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf}).is_success
    for value in HOSTILE:
        for action in ("note", "reply", "extension", "return"):
            data = {"csrf": csrf, "text": value, "reason": value, "working_days": value}
            reply = client.post(f"/workbench/tickets/{no}/{action}", data=data)
            assert reply.status_code < 500, (action, value, reply.status_code)
        short = value[:300]  # URLs have their own length limits
        assert client.get(f"/workbench/tickets/{quote(short, safe='')}").status_code < 500
        for params in ({"state": short, "due": short}, {"done": "return", "ticket": short}):
            assert client.get("/workbench", params=params).status_code == 200, params
    for path in ("/api/v1/tickets/%00", f"{API}/tickets/%00", "/t/%00"):  # PostgreSQL too
        assert client.get(path, headers=desk.headers["water"]).status_code == 404, path
    page = client.get(f"/workbench/tickets/{no}").text
    assert "<script>alert(1)</script>" not in page  # shown, escaped, never run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    api = client.get(f"{API}/tickets/{no}", headers=desk.headers["water"]).json()
    assert "ab" in [e["reason"] for e in api["timeline"]]  # NUL dropped from the note
