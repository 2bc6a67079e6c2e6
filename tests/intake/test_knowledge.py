"""intake's client of followup's knowledge base: what it sends, and every way it can fail."""

import json

import httpx
import pytest

from services.intake.direct_answers import confident_answer, look_up
from services.intake.knowledge import KnowledgeBase, KnowledgeUnavailable, plain_text

HIT = {
    "kind": "article",
    "id": 7,
    "ticket_no": None,
    "title": "居住证",
    "snippet": "**带**身份证",
    "score": 0.5,
}
ARTICLE = {
    "id": 7,
    "department_code": "urban",
    "title": "居住证办理需要哪些材料",
    "body_md": "# 材料\n- 身份证\n- 租房合同",
    "valid_from": None,
    "valid_until": None,
    "retired_at": None,
}


def knowledge(handler: object) -> KnowledgeBase:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return KnowledgeBase(client=httpx.Client(base_url="http://followup", transport=transport))


def test_the_words_go_in_the_body_masked_never_in_the_url() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[HIT])

    found = look_up(knowledge(answer), "请问居住证怎么办？我的电话13812345678")
    (request,) = seen
    assert request.method == "POST" and "居住证" not in str(request.url)
    body = json.loads(request.content)
    assert "13812345678" not in body["q"] and "138****5678" in body["q"]
    assert found.articles[0].snippet == "带身份证"  # Markdown marks dropped for the agent


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401, json={"detail": "凭证无效"}),
        httpx.Response(429, json={"detail": "太频繁"}),
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"unexpected": "shape"}),
        httpx.Response(200, json=[{"kind": "article"}]),
    ],
)
def test_any_bad_answer_is_unavailable_and_nothing_is_answered(reply: httpx.Response) -> None:
    base = knowledge(lambda _request: reply)
    with pytest.raises(KnowledgeUnavailable):
        base.search("请问居住证怎么办")
    assert look_up(base, "请问居住证怎么办").unavailable
    assert confident_answer(base, "请问居住证怎么办", min_score=0.1, answered_by="x") is None


def test_a_confident_article_becomes_the_answer_as_plain_text() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[HIT] if request.method == "POST" else ARTICLE)

    given = confident_answer(knowledge(answer), "居住证", min_score=0.4, answered_by="wechat:x")
    assert given is not None
    assert (given.article_id, given.department_code, given.score) == (7, "urban", 0.5)
    assert given.answer == "材料\n· 身份证\n· 租房合同"
    assert confident_answer(knowledge(answer), "居住证", min_score=0.6, answered_by="x") is None


def test_a_retired_or_missing_article_is_no_answer() -> None:
    retired = {**ARTICLE, "retired_at": "2026-12-01T00:00:00Z"}
    for article in (httpx.Response(200, json=retired), httpx.Response(404, json={})):

        def answer(request: httpx.Request, article: httpx.Response = article) -> httpx.Response:
            return httpx.Response(200, json=[HIT]) if request.method == "POST" else article

        assert confident_answer(knowledge(answer), "居住证", min_score=0.1, answered_by="x") is None


def test_markdown_reads_as_plain_text() -> None:
    text = plain_text("## 办理\n**地点**：[便民中心](https://x.cn)\n\n\n\n`窗口` 3号", limit=None)
    assert text == "办理\n地点：便民中心（https://x.cn）\n\n窗口 3号"
    assert plain_text("长" * 50, limit=10) == "长" * 9 + "…"
