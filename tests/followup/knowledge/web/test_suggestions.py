"""相似答复参考 on the department's ticket page: similar articles and past replies, escaped."""

from pathlib import Path

from fastapi.testclient import TestClient

from tests.followup.conftest import make_desk
from tests.followup.knowledge.test_service import WATER_CUT, add, answered_ticket
from tests.followup.test_web import open_ticket, sign_in, token_of


def test_the_ticket_page_suggests_similar_articles_and_replies(tmp_path: Path) -> None:
    desk = make_desk(f"sqlite:///{tmp_path / 'followup.db'}")
    add(desk, "water", WATER_CUT)
    add(desk, "water", {"title": "<script>alert(1)</script>停水", "body_md": "停水取水<b>x</b>"})
    answer = "经现场核查，已更换幸福小区内损坏的路灯灯头，恢复夜间照明"
    answered_ticket(desk, "幸福小区路灯坏了，老人王某某摔倒", answer)
    no = open_ticket(desk, "water", text="幸福小区3栋停水两天了，到哪里可以临时取水？")
    accepted = desk.client.post(
        f"/api/v1/workbench/tickets/{no}/accept", headers=desk.headers["water"]
    )
    assert accepted.status_code == 200
    with TestClient(desk.client.app) as client:
        sign_in(client, token_of(desk, "water"))
        page = client.get(f"/workbench/tickets/{no}").text
    assert "相似答复参考" in page
    assert WATER_CUT["title"] in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "王某某" not in page
    desk.client.close()


def test_no_suggestions_where_nothing_is_written(tmp_path: Path) -> None:
    desk = make_desk(f"sqlite:///{tmp_path / 'followup.db'}")
    no = open_ticket(desk, "water")
    with TestClient(desk.client.app) as client:
        sign_in(client, token_of(desk, "operator"))  # operators see the page without forms
        page = client.get(f"/workbench/tickets/{no}")
    assert page.status_code == 200 and "相似答复参考" not in page.text
    desk.client.close()
