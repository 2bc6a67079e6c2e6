"""主办/协办 on the workbench pages: the centre names a co-unit on the ticket page, the co-unit
finds the ticket on its queue, signs and sends its part, the lead sees it and resolves."""

from fastapi.testclient import TestClient

from tests.followup.conftest import Desk
from tests.followup.test_cohandling import WATER, file
from tests.followup.test_web import errors_of, sign_in, token_of


def test_the_centre_names_a_co_unit_which_signs_and_sends_its_part_on_its_pages(
    desk: Desk,
) -> None:
    no, _ = file(desk)
    app = desk.client.app
    operator, water, urban = TestClient(app), TestClient(app), TestClient(app)
    csrf = sign_in(operator, token_of(desk, "operator"))
    page = operator.get(f"/workbench/tickets/{no}").text
    assert "增加协办单位" in page and '<option value="water">市水务局</option>' in page
    assert '<option value="urban">' not in page  # the lead is not offered as its own co-unit
    added = operator.post(
        f"/workbench/tickets/{no}/cohandlers/add", data={"csrf": csrf, "department_code": "water"}
    )
    assert added.status_code == 200 and "已增加协办单位" in added.text
    bad = operator.post(
        f"/workbench/tickets/{no}/cohandlers/add", data={"csrf": csrf, "department_code": "x y"}
    )
    assert bad.status_code == 422 and "请从列表中选择" in bad.text

    csrf_w = sign_in(water, token_of(desk, "water"))
    queue = water.get("/workbench").text
    assert 'id="co-queue"' in queue and no in queue and "市城市管理局" in queue
    ticket = water.get(f"/workbench/tickets/{no}").text
    assert "签收协办" in ticket and "主办：市城市管理局" in ticket
    assert f"/workbench/tickets/{no}/resolve" not in ticket  # the lead's forms are not shown
    signed = water.post(f"/workbench/tickets/{no}/co-accept", data={"csrf": csrf_w})
    assert "已签收协办" in signed.text
    empty = water.post(f"/workbench/tickets/{no}/co-part", data={"csrf": csrf_w, "text": ""})
    assert empty.status_code == 422 and errors_of(empty.text)
    part = "排水设施已检查，渣土车冲洗已整改。"
    sent = water.post(f"/workbench/tickets/{no}/co-part", data={"csrf": csrf_w, "text": part})
    assert "协办意见已提交给主办单位" in sent.text and part in sent.text
    assert 'id="co-queue"' not in water.get("/workbench").text
    refused = water.post(f"/workbench/tickets/{no}/resolve", data={"csrf": csrf_w, "text": "x"})
    assert refused.status_code == 404

    csrf_u = sign_in(urban, token_of(desk, "urban"))
    lead = urban.get(f"/workbench/tickets/{no}").text
    assert "主办单位" in lead and part in lead and "已提交协办意见" in lead
    urban.post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf_u})
    done = urban.post(
        f"/workbench/tickets/{no}/resolve", data={"csrf": csrf_u, "text": "已责令工地夜间停工。"}
    )
    assert "已办结" in done.text
    closed = operator.get(f"/workbench/tickets/{no}").text
    assert "增加协办单位" not in closed  # nobody joins a resolved ticket
    assert "/cohandlers/water/withdraw" not in closed  # nor leaves one whose part is in


def test_the_lead_cannot_resolve_before_the_parts_are_in_and_is_told_why(desk: Desk) -> None:
    no, _ = file(desk, co=[WATER])
    urban = TestClient(desk.client.app)
    csrf = sign_in(urban, token_of(desk, "urban"))
    urban.post(f"/workbench/tickets/{no}/accept", data={"csrf": csrf})
    refused = urban.post(f"/workbench/tickets/{no}/resolve", data={"csrf": csrf, "text": "已处理"})
    assert refused.status_code == 409
    assert "协办单位尚未提交协办意见：市水务局" in refused.text
