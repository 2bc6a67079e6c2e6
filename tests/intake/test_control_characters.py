"""Addresses with control characters (a NUL, say) are refused at the door with a 422."""

from pathlib import Path

import pytest

from tests.intake.test_api import GOOD, make_client, outbox


@pytest.mark.parametrize(
    "location",
    [
        "幸福小区\x003栋",
        {"address": "幸福小区\x003栋", "district": "A3区"},
        {"address": "幸福小区3栋", "district": "A3\x07区"},
    ],
)
def test_an_address_with_a_control_character_is_refused(tmp_path: Path, location: object) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=1000)
    reply = client.post("/api/v1/feedback", json={**GOOD, "location": location})
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert "控制字符" in reply.json()["detail"]
    assert outbox(client) == []


def test_the_webform_refuses_one_too(tmp_path: Path) -> None:
    client = make_client(tmp_path, rate_limit_per_minute=1000)
    fields = {"text": GOOD["text"], "address": "幸福小区\x003栋", "token": "x" * 32}
    reply = client.post("/form", data=fields)
    assert reply.status_code == 422, reply.text
    assert "控制字符" in reply.text  # the form again, saying what is wrong
    assert outbox(client) == []
