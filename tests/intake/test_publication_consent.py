"""公开: the citizen's consent to publication on every channel, off unless they give it."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from feedbackloop.events import FeedbackReceived, decode
from services.intake.wechat_messages import PUBLISH_NOTE, Inbound, Submit, interpret
from tests.intake.knowledge_desk import (
    followup_with_articles,
    knowledge_of,
    received,
    with_knowledge,
)
from tests.intake.test_agent import call_form, credential, sign_in
from tests.intake.test_api import GOOD as API_GOOD
from tests.intake.test_api import make_client, outbox
from tests.intake.test_hotline import as_call_centre, call
from tests.intake.test_open311 import post as post_open311
from tests.intake.test_webform import GOOD as FORM_GOOD
from tests.intake.test_webform import Page, token_of


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, rate_limit_per_minute=1000)


def consents(client: TestClient) -> list[bool]:
    events = [decode(row.payload, expect=FeedbackReceived).data for row in outbox(client)]
    return [bool(e.contact and e.contact.publication_consent) for e in events]


def test_the_web_form_asks_with_an_unticked_labelled_box(client: TestClient) -> None:
    page = Page(client.get("/form").text)
    box = page.control("publication_consent")
    assert box["type"] == "checkbox" and box.get("checked") is None
    assert box["id"] in page.label_for
    html = client.get("/form").text
    assert "同意公开（隐去个人信息后在公开栏展示诉求和答复）" in html


def test_the_web_form_sends_the_consent_only_when_ticked(client: TestClient) -> None:
    assert client.post("/form", data=dict(FORM_GOOD, token=token_of(client))).is_success
    agreed = dict(FORM_GOOD, text="另一条诉求：小区门口积水严重", publication_consent="yes")
    assert client.post("/form", data=dict(agreed, token=token_of(client))).is_success
    assert consents(client) == [False, True]


def test_an_anonymous_form_with_consent_still_carries_it(client: TestClient) -> None:
    form = {"text": "公园里的健身器材坏了很久", "publication_consent": "yes"}
    assert client.post("/form", data=dict(form, token=token_of(client))).is_success
    assert consents(client) == [True]


def test_the_json_api_takes_publication_consent(client: TestClient) -> None:
    assert client.post("/api/v1/feedback", json=API_GOOD).status_code == 201
    body = dict(API_GOOD, text="第二条：楼下餐馆油烟很大", publication_consent=True)
    assert client.post("/api/v1/feedback", json=body).status_code == 201
    wrong = dict(API_GOOD, publication_consent="也许")
    assert client.post("/api/v1/feedback", json=wrong).status_code == 422
    assert consents(client) == [False, True]


def test_the_hotline_agent_sets_it_after_asking(client: TestClient) -> None:
    centre = as_call_centre(client)
    assert centre.post("/api/v1/hotline/calls", json=call(1)).status_code == 201
    asked = call(2, publication_consent=True)
    assert centre.post("/api/v1/hotline/calls", json=asked).status_code == 201
    assert consents(client) == [False, True]


def test_open311_takes_it_as_an_attribute(client: TestClient) -> None:
    assert post_open311(client).status_code == 201
    agreed = post_open311(
        client, description="第二条：路口信号灯不亮", **{"attribute[publication_consent]": "true"}
    )
    assert agreed.status_code == 201
    assert consents(client) == [False, True]


def inbound(content: str) -> Inbound:
    fields = {"Content": content, "MsgType": "text"}
    return Inbound("gh_account", "openid-1", 1764800000, "text", "1", fields)


@pytest.mark.parametrize(
    "content", ["公开：小区门口路灯坏了", "公开 小区门口路灯坏了", "同意公开，小区门口路灯坏了"]
)
def test_a_wechat_message_starting_with_the_keyword_is_filed_with_consent(content: str) -> None:
    action = interpret(inbound(content))
    assert isinstance(action, Submit)
    assert action.item.publication_consent and action.item.text == "小区门口路灯坏了"
    assert action.note == PUBLISH_NOTE


@pytest.mark.parametrize(
    "content", ["小区门口路灯坏了", "公开", "公开栏在哪里看", "请不要公开我的信息"]
)
def test_other_wechat_messages_are_not_published(content: str) -> None:
    action = interpret(inbound(content))
    assert not (isinstance(action, Submit) and action.item.publication_consent)


def test_the_agents_desk_files_consent_only_when_the_box_is_ticked(tmp_path: Path) -> None:
    desk_of_articles, _ids = followup_with_articles(tmp_path)
    client = with_knowledge(make_client(tmp_path), knowledge_of(desk_of_articles))
    desk = sign_in(client, credential(client))
    assert 'id="call-publication_consent"' in desk and "来电人同意公开" in desk
    asked = call_form(desk, "投诉某超市缺斤少两", publication_consent="yes")
    hits = client.post("/agent/search", data=asked)
    # The box's answer is carried on to the filing buttons.
    assert 'name="publication_consent" value="yes"' in hits.text
    assert client.post("/agent/file", data=asked).status_code == 200
    other = sign_in_again(client)
    assert client.post("/agent/file", data=call_form(other, "路口红绿灯坏了")).status_code == 200
    assert [
        bool(e.data.contact and e.data.contact.publication_consent) for e in received(client)
    ] == [
        True,
        False,
    ]


def sign_in_again(client: TestClient) -> str:
    """The desk's empty form for the next call (a fresh token)."""
    return client.get("/agent").text
