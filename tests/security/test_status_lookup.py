"""Private status lookups: a ticket number alone is no key to the citizen's words.

The attacks: `GET :8003/api/v1/tickets/<no>` showed the title (the citizen's own words) and
staff names to anyone, numbers are date + node + sequence + check digit so a day can be
walked, and nothing limited the rate. Now the status link intake gives carries a secret; the
number alone shows the state and the handling unit only, and lookups are limited per address.
A hotline agent looks a ticket up for a caller by number plus the callback phone's last four
digits, on an operator credential, rate-limited and audited.
"""

import re
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from feedbackloop.devstack.credentials import staff_headers
from feedbackloop.devstack.processes import Stack
from services.followup.app import create_api, create_followup
from services.followup.auth import Role
from services.followup.config import Settings
from services.followup.database import open_store
from tests.integration.conftest import wait_for
from tests.integration.test_wechat_progress import push, reply_text
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

TITLE = "楼道灯坏了"
TEXT = "幸福小区3栋2单元楼道的灯坏了一个星期，晚上老人上下楼很危险，请尽快修好。"
PHONE = "13812345678"
LOOKUP = "/api/v1/workbench/lookups"


def followup_db(stack: Stack) -> str:
    return f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"


def credential(stack: Stack, name: str, role: Role, department: str | None = None) -> dict:
    return staff_headers(
        database_url=followup_db(stack), name=name, role=role.value, department=department
    )


def caller() -> str:
    """PHONE with other middle digits: the same masked number and last four, but a caller of
    its own, so this module's items are not linked as one caller's repeats (重复来电)."""
    return f"{PHONE[:3]}{secrets.randbelow(10**4):04d}{PHONE[-4:]}"


def submit(stack: Stack) -> tuple[str, str]:
    """A citizen's web item, once followup has its ticket: the number and the status link."""
    reply = httpx.post(
        f"{stack.services['intake'].url}/api/v1/feedback",
        json={"title": TITLE, "text": TEXT, "contact_phone": caller(), "callback_consent": True},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    ticket_no, link = reply.json()["ticket_no"], reply.json()["status_url"]
    followup = stack.services["followup"].url
    wait_for(
        lambda: httpx.get(f"{followup}/api/v1/tickets/{ticket_no}").status_code == 200,
        what="followup to open the ticket",
    )
    return ticket_no, link


def secret_of(link: str) -> str:
    (secret,) = parse_qs(urlsplit(link).query)["k"]
    return secret


def test_a_ticket_number_alone_shows_only_the_state_and_the_handling_unit(stack: Stack) -> None:
    followup = stack.services["followup"].url
    ticket_no, link = submit(stack)
    operator = credential(stack, "话务员王芳", Role.OPERATOR)
    accepted = httpx.post(
        f"{followup}/api/v1/workbench/tickets/{ticket_no}/accept", headers=operator, timeout=10
    )
    assert accepted.status_code == 200, accepted.text
    replied = httpx.post(
        f"{followup}/api/v1/workbench/tickets/{ticket_no}/replies",
        json={"text": "已联系物业，今天下午修理。"},
        headers=operator,
        timeout=10,
    )
    assert replied.status_code == 200, replied.text

    bare = httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", timeout=10)
    assert bare.status_code == 200
    assert set(bare.json()) <= {
        "ticket_no",
        "state",
        "state_label",
        "department_code",
        "department_name",
        "full",
    }, bare.json()
    for private in (TITLE, "王芳", PHONE[-4:], "物业"):
        assert private not in bare.text
    wrong = httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", params={"k": "A" * 22})
    forged = httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", params={"k": secret_of(link)[:-1]})
    assert wrong.json() == forged.json() == bare.json()  # a wrong secret tells nothing more

    page = httpx.get(f"{followup}/t/{ticket_no}", timeout=10)
    assert page.status_code == 200 and bare.json()["department_name"] in page.text
    assert TITLE not in page.text and "王芳" not in page.text and "已答复" not in page.text


def test_the_status_link_from_intake_shows_the_citizen_their_ticket(stack: Stack) -> None:
    followup = stack.services["followup"].url
    ticket_no, link = submit(stack)
    assert link.startswith(f"{followup}/t/{ticket_no}?k=")
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200 and "办理过程" in page.text and "已派单" in page.text
    full = httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", params={"k": secret_of(link)})
    assert full.status_code == 200
    assert full.json()["title"] == TITLE and full.json()["timeline"], full.json()


@pytest.fixture
def api_replica(stack: Stack) -> Iterator[str]:
    """An API-only followup replica on the stack's store, with the default lookup limit.

    The stack's own followup runs with the limit raised, since every test polls it from
    127.0.0.1 (as the stack's intake does for its per-address limit).
    """
    settings = Settings(database_url=followup_db(stack))
    with serve_in_thread(create_api(create_followup(settings))) as url:
        yield url


def test_walking_ticket_numbers_is_rate_limited_per_address(stack: Stack, api_replica: str) -> None:
    ticket_no, _link = submit(stack)
    with httpx.Client(base_url=api_replica, timeout=10) as client:
        codes = [client.get(f"/api/v1/tickets/{ticket_no}").status_code for _ in range(30)]
        assert codes == [200] * 20 + [429] * 10, codes
        limited = client.get(f"/api/v1/tickets/{ticket_no}")
        assert limited.headers["content-type"] == "application/problem+json"
        assert "频繁" in limited.json()["detail"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        page = client.get(f"/t/{ticket_no}")  # the page shares the budget
        assert page.status_code == 429 and "频繁" in page.text and page.headers["Retry-After"]
    # Another address is not held back by this one's lookups.
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=api_replica, transport=other, timeout=10) as client:
        assert client.get(f"/api/v1/tickets/{ticket_no}").status_code == 200


def test_wechat_progress_queries_stay_bound_to_the_openid(stack: Stack) -> None:
    intake = stack.services["intake"].url
    citizen, stranger = ("oSec" + uuid.uuid4().hex[:24] for _ in range(2))
    msg_id = uuid.uuid4().int % 10**18
    accepted = reply_text(push(intake, openid=citizen, content=TEXT, msg_id=msg_id), citizen)
    number = re.search(r"工单号 (\d{13})", accepted)
    assert number is not None, accepted
    ticket_no = number.group(1)
    theirs = reply_text(
        push(intake, openid=stranger, content=f"查询 {ticket_no}", msg_id=msg_id + 1), stranger
    )
    assert "没有找到" in theirs and TEXT[:6] not in theirs
    own = reply_text(
        push(intake, openid=citizen, content=f"查询 {ticket_no}", msg_id=msg_id + 2), citizen
    )
    assert f"工单 {ticket_no}" in own


def test_an_agent_looks_a_ticket_up_by_number_and_the_callers_last_four_digits(
    stack: Stack,
) -> None:
    followup = stack.services["followup"].url
    ticket_no, _link = submit(stack)
    agent = credential(stack, f"话务员{uuid.uuid4().hex[:4]}", Role.OPERATOR)
    department = credential(stack, "市住建局", Role.DEPARTMENT, "housing")

    def look(last4: str, headers: dict | None = None) -> httpx.Response:
        body = {"ticket_no": ticket_no, "phone_last4": last4}
        return httpx.post(f"{followup}{LOOKUP}", json=body, headers=headers or {}, timeout=10)

    assert look(PHONE[-4:]).status_code == 401
    assert look(PHONE[-4:], department).status_code == 403
    found = look(PHONE[-4:], agent)
    assert found.status_code == 200, found.text
    assert found.json()["text"] == TEXT and found.json()["phone_masked"] == "138****5678"
    wrong = look("0000", agent)
    unknown = httpx.post(
        f"{followup}{LOOKUP}",
        json={"ticket_no": "2611229999990", "phone_last4": "5678"},
        headers=agent,
        timeout=10,
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"] == "application/problem+json"
    assert look("12ab", agent).status_code == 422

    from services.followup.models import LookupAudit  # new with this fix

    # Who looked which ticket up, and whether the digits matched (never the digits).
    with open_store(followup_db(stack))() as session:
        rows = session.execute(
            select(LookupAudit).where(LookupAudit.ticket_no == ticket_no).order_by(LookupAudit.id)
        ).scalars()
        audit = [(row.actor, row.matched) for row in rows]
    assert audit == [(audit[0][0], True), (audit[0][0], False)]
    assert audit[0][0].startswith("operator:话务员")

    # Guessing the last four digits is limited per agent.
    codes = [look(f"{n:04d}", agent).status_code for n in range(1, 31)]
    assert 429 in codes
    assert look(PHONE[-4:], agent).status_code == 429
