"""Repeat callers (重复来电): the same person reporting the same thing again is linked to their
open ticket, counted once, told its number; the centre can unlink it."""

import itertools
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from feedbackloop import callers
from feedbackloop.events import Contact, Envelope, TicketEvent, decode
from feedbackloop.events.topics import TICKET_EVENTS
from feedbackloop.web.status_links import DEV_STATUS_LINK_KEY, status_secret
from services.followup.config import Settings
from services.followup.models import OutboxMessage, Ticket
from services.followup.notifications import notification_for
from services.followup.repeats import caller_key, similarity
from tests import factories
from tests.followup.conftest import Desk
from tests.followup.test_web import csrf_of, sign_in, token_of

API = "/api/v1/workbench"
KEY = Settings().contact_key
OTHER = "x" * 43 + "="
_numbers = itertools.count(1)
TEXT = "幸福小区5栋楼下的路灯坏了一个多月，晚上很黑，请尽快修理。"


def wechat(openid: str = "oABC123") -> Contact:
    return Contact(wechat_openid=openid)


def phone(number: str) -> Contact:
    """A caller by phone, named as intake names them (no callback consent: nothing sealed)."""
    return Contact(
        phone_masked=number[:3] + "****" + number[-4:],
        caller_key=callers.caller_key(contact_key=KEY, phone=number),
    )


def file(desk: Desk, text: str, contact: Contact | None, hours_ago: float = 0) -> str:
    number = f"26112340{next(_numbers):05d}"
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    item = factories.received(text, received_at=at, ticket_no=number, contact=contact)
    desk.route(factories.routed(item))
    return number


def ticket(desk: Desk, no: str, who: str = "operator") -> dict:
    reply = desk.client.get(f"{API}/tickets/{no}", headers=desk.headers[who])
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def envelopes(desk: Desk, no: str) -> list[Envelope[TicketEvent]]:
    with desk.sessions() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        found = [decode(row.payload) for row in rows if row.topic == TICKET_EVENTS]
    return [e for e in found if isinstance(e.data, TicketEvent) and e.data.ticket_no == no]


def events(desk: Desk, no: str) -> list[TicketEvent]:
    return [e.data for e in envelopes(desk, no)]


def test_the_same_caller_on_the_same_matter_is_linked_and_told_the_number(desk: Desk) -> None:
    first = file(desk, TEXT, wechat(), hours_ago=30)
    again = file(desk, "幸福小区5栋楼下路灯还是坏的，晚上很黑，请尽快修理！", wechat())
    repeat = ticket(desk, again)
    assert repeat["state"] == "merged"
    assert f"已关联工单 {first}" in repeat["timeline"][-1]["reason"]
    (opened,) = events(desk, again)
    assert (opened.kind, opened.state_to) == ("merged", "merged")  # not an assignment
    # The unit reads the new words on the ticket it works; its queue shows one ticket.
    master = ticket(desk, first, "urban")
    assert master["timeline"][-1]["kind"] == "noted"
    assert (
        again in master["timeline"][-1]["reason"]
        and "路灯还是坏的" in master["timeline"][-1]["reason"]
    )
    queue = desk.client.get(f"{API}/tickets", headers=desk.headers["urban"]).json()
    assert [t["ticket_no"] for t in queue] == [first]
    # The citizen hears which ticket carries their request.
    settings = Settings(wechat_app_id="wx-test", wechat_app_secret="secret")
    (merged,) = envelopes(desk, again)
    with desk.sessions() as session:
        told = notification_for(session=session, settings=settings, event=merged)
    assert told is not None and f"工单{first}" in told.text and told.wechat_openid == "oABC123"
    # ... and on their status page, by the link they were given (not by the number alone).
    secret = status_secret(key=DEV_STATUS_LINK_KEY, ticket_no=again)
    page = desk.client.get(f"/t/{again}", params={"k": secret}).text
    assert f"已并入您此前反映的工单 <strong>{first}</strong>" in page
    assert first not in desk.client.get(f"/t/{again}").text


def test_others_other_matters_and_old_tickets_are_not_linked(desk: Desk) -> None:
    first = file(desk, TEXT, phone("13812345678"), hours_ago=2)
    by_someone_else = file(desk, TEXT, phone("13900001111"))
    anonymous = file(desk, TEXT, None)
    other_matter = file(
        desk, "我家楼上每天夜里装修，电钻声吵得孩子睡不着。", phone("138 1234 5678")
    )
    assert [ticket(desk, no)["state"] for no in (by_someone_else, anonymous, other_matter)] == [
        "routed"
    ] * 3
    same_phone = file(desk, TEXT, phone("138-1234-5678"))  # the same number, written otherwise
    assert ticket(desk, same_phone)["state"] == "merged"
    old = file(desk, "锦绣花园门口的井盖丢了，很危险。", wechat("oOLD"), hours_ago=24 * 8)
    assert ticket(desk, file(desk, "锦绣花园门口的井盖丢了，很危险！", wechat("oOLD")))[
        "state"
    ] == ("routed"), old  # older than the window (168 h)
    assert ticket(desk, first)["state"] == "routed"


def test_the_centre_unlinks_a_repeat_and_it_runs_on_its_own(desk: Desk) -> None:
    first = file(desk, TEXT, wechat("oUNLINK"), hours_ago=1)
    again = file(desk, TEXT, wechat("oUNLINK"))
    body = {"reason": "市民反映的是另一栋楼的路灯"}
    refused = desk.client.post(
        f"{API}/tickets/{again}/unlink", headers=desk.headers["urban"], json=body
    )
    assert refused.status_code == 403
    done = desk.client.post(
        f"{API}/tickets/{again}/unlink", headers=desk.headers["operator"], json=body
    )
    assert done.status_code == 200, done.text
    alone = done.json()
    assert (alone["state"], alone["department_code"]) == ("routed", "urban")
    assert datetime.fromisoformat(alone["due_at"]) > datetime.now(UTC) + timedelta(days=1)
    assert f"取消与工单 {first} 的关联" in alone["timeline"][-1]["reason"]
    assert events(desk, again)[-1].kind == "rerouted"
    again_twice = desk.client.post(
        f"{API}/tickets/{again}/unlink", headers=desk.headers["operator"], json=body
    )
    assert again_twice.status_code == 409
    queue = desk.client.get(f"{API}/tickets", headers=desk.headers["urban"]).json()
    assert sorted(t["ticket_no"] for t in queue) == sorted([first, again])


def test_the_caller_key_names_no_one_and_similarity_ignores_punctuation() -> None:
    key = caller_key(phone("13812345678"), contact_key=KEY)
    assert key is not None and "13812345678" not in key and len(key) == 64
    assert key == caller_key(phone("+86 138 1234 5678"), contact_key=KEY)
    assert key != callers.caller_key(contact_key=OTHER, phone="13812345678"), "another key"
    assert caller_key(wechat("oX"), contact_key=KEY) == callers.caller_key(
        contact_key=KEY, openid="oX"
    ), "an openid without intake's key is named the same way"
    assert caller_key(Contact(), contact_key=KEY) is None
    assert similarity("路灯坏了！！", "路灯 坏了") == 1.0
    assert similarity("路灯坏了", "噪音扰民") == 0.0
    with_rows = Ticket  # the model keeps only the hash
    assert "caller_key" in with_rows.__table__.columns


def test_an_operator_unlinks_on_the_ticket_page(desk: Desk) -> None:
    first = file(desk, TEXT, wechat("oPAGE"), hours_ago=1)
    again = file(desk, TEXT, wechat("oPAGE"))
    sign_in(desk.client, token_of(desk, "operator"))
    page = desk.client.get(f"/workbench/tickets/{again}")
    csrf = csrf_of(page.text)
    assert "已关联工单 <a" in page.text and first in page.text and "取消关联，单独办理" in page.text
    short = desk.client.post(
        f"/workbench/tickets/{again}/repeat/unlink", data={"csrf": csrf, "reason": "否"}
    )
    assert short.status_code == 422 and "取消关联理由" in short.text
    done = desk.client.post(
        f"/workbench/tickets/{again}/repeat/unlink",
        data={"csrf": csrf, "reason": "市民反映的是另一栋楼"},
    )
    assert done.status_code == 200, done.text
    assert ticket(desk, again)["state"] == "routed"
    unit_page = TestClient(desk.client.app)
    sign_in(unit_page, token_of(desk, "urban"))
    assert "取消关联" not in unit_page.get(f"/workbench/tickets/{first}").text
