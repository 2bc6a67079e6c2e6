"""The /workbench/articles page: a unit lists and adds its articles; CSRF; no raw HTML."""

from pathlib import Path

from fastapi.testclient import TestClient

from tests.followup.conftest import make_desk
from tests.followup.test_web import csrf_of, errors_of, sign_in, token_of


def test_a_unit_adds_an_article_on_the_page_and_sees_it_escaped(tmp_path: Path) -> None:
    desk = make_desk(f"sqlite:///{tmp_path / 'followup.db'}")
    with TestClient(desk.client.app) as client:
        csrf = sign_in(client, token_of(desk, "water"))
        form = {"csrf": csrf, "title": "停水<b>取水</b>", "body_md": "第一行\n<script>x</script>"}
        forged = client.post("/workbench/articles", data=form | {"csrf": "forged"})
        assert forged.status_code == 403
        done = client.post("/workbench/articles", data=form)
        assert done.status_code == 200 and "文章已保存" in done.text
        assert "<script>x</script>" not in done.text and "&lt;script&gt;" in done.text
        assert "第一行<br>" in done.text
        page = client.get("/workbench/articles")
        bad = client.post(
            "/workbench/articles",
            data={
                "csrf": csrf_of(page.text),
                "title": "长" * 101,
                "body_md": "正文",
                "valid_from": "2026-12-10",
                "valid_until": "2026-12-01",
            },
        )
        assert bad.status_code == 422 and errors_of(bad.text)
    listed = desk.client.get("/api/v1/workbench/articles", headers=desk.headers["urban"]).json()
    assert [a["department_code"] for a in listed] == ["water"]
    desk.client.close()
