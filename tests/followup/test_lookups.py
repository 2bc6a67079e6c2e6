"""Status lookups by number, by the status link's secret, and by hotline agents for callers."""

from datetime import UTC, datetime

from cryptography.fernet import Fernet
from sqlalchemy import select

from feedbackloop.events import Contact
from feedbackloop.web.status_links import DEV_STATUS_LINK_KEY, status_secret
from services.followup.config import DEV_CONTACT_KEY
from services.followup.models import LookupAudit
from tests import factories
from tests.followup.conftest import Desk

LOOKUP = "/api/v1/workbench/lookups"


def routed(desk: Desk, number: str, phone: str | None = "13812345678") -> str:
    sealed = Fernet(DEV_CONTACT_KEY.encode()).encrypt(phone.encode()).decode() if phone else None
    contact = Contact(phone_masked="138****5678", phone_sealed=sealed, callback_consent=True)
    item = factories.received(
        "我叫张三，小区路灯坏了",
        title="路灯坏了",
        received_at=datetime.now(UTC),
        ticket_no=number,
        contact=contact,
    )
    desk.route(factories.routed(item))
    return number


def test_the_number_alone_shows_the_state_and_unit_and_the_secret_the_ticket(desk: Desk) -> None:
    number = routed(desk, "2611239900011")
    bare = desk.client.get(f"/api/v1/tickets/{number}").json()
    assert bare == {
        "ticket_no": number,
        "state": "routed",
        "state_label": bare["state_label"],
        "department_code": "urban",
        "department_name": "市城市管理局",
        "full": False,
    }
    secret = status_secret(key=DEV_STATUS_LINK_KEY, ticket_no=number)
    full = desk.client.get(f"/api/v1/tickets/{number}", params={"k": secret}).json()
    assert full["full"] is True and full["title"] == "路灯坏了" and full["timeline"]
    page = desk.client.get(f"/t/{number}", params={"k": secret})
    assert "办理过程" in page.text and "已派单" in page.text
    glimpse = desk.client.get(f"/t/{number}", params={"k": "é" * 30})
    assert "<h2>办理过程</h2>" not in glimpse.text and "市城市管理局" in glimpse.text


def test_public_lookups_answer_429_past_the_per_address_budget(desk: Desk) -> None:
    number = routed(desk, "2611239900022")
    codes = [desk.client.get(f"/api/v1/tickets/{number}").status_code for _ in range(20)]
    missing = desk.client.get("/api/v1/tickets/2611239999999")  # unknown numbers count too
    assert codes == [200] * 20 and missing.status_code == 429
    assert missing.headers["content-type"] == "application/problem+json"
    assert "频繁" in missing.json()["detail"] and int(missing.headers["retry-after"]) >= 1


def test_an_agent_verifies_a_caller_by_the_last_four_digits(desk: Desk) -> None:
    number = routed(desk, "2611239900033")
    silent = routed(desk, "2611239900044", phone=None)
    operator = desk.headers["operator"]

    def look(no: str, last4: str) -> int:
        body = {"ticket_no": no, "phone_last4": last4}
        return desk.client.post(LOOKUP, json=body, headers=operator).status_code

    assert look(number, "5678") == 200
    assert look(number, "5679") == 404
    assert look(silent, "5678") == 404  # a ticket without a phone cannot be opened this way
    refused = desk.client.post(
        LOOKUP, json={"ticket_no": number, "phone_last4": "5678"}, headers=desk.headers["urban"]
    )
    assert refused.status_code == 403
    assert (
        desk.client.post(
            LOOKUP, json={"ticket_no": "x\0", "phone_last4": "5678"}, headers=operator
        ).status_code
        == 422
    )
    with desk.sessions() as session:
        audit = session.execute(select(LookupAudit).order_by(LookupAudit.id)).scalars().all()
        assert [(a.ticket_no, a.actor, a.matched) for a in audit] == [
            (number, "operator:话务员小李", True),
            (number, "operator:话务员小李", False),
            (silent, "operator:话务员小李", False),
        ]
    codes = [look(number, f"{n:04d}") for n in range(17)]
    assert codes == [404] * 17 and look(number, "5678") == 429  # 20 checks a minute
