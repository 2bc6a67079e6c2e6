"""The SMS gateway client: request shape, and 2xx / 4xx / 5xx / timeouts, mocked and for real."""

import json
from typing import Any

import httpx
import pytest

from services.followup.notify.sms import SmsError, SmsGateway
from tests.followup.notify.sms_server import SmsServer

URL = "https://sms.example.gov.cn/v1/messages"
PHONE = "13812345678"


def gateway(handler: Any) -> SmsGateway:
    return SmsGateway(httpx.Client(transport=httpx.MockTransport(handler)), URL, "k-123")


def test_an_sms_is_one_authorised_json_post() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "m-1", "status": "accepted"})

    gateway(handler).send(phone=PHONE, text="您的诉求已办结。", reference="ev-1")
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["authorization"] == "Bearer k-123"
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.content) == {
        "phone": PHONE,
        "text": "您的诉求已办结。",
        "reference": "ev-1",
    }


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [
        (httpx.Response(400, json={"error": "invalid phone 13812345678"}), True),
        (httpx.Response(401, json={"error": "bad key"}), True),
        (httpx.Response(429, headers={"Retry-After": "1"}), False),
        (httpx.Response(500), False),
        (httpx.Response(503), False),
        (httpx.ReadTimeout("timed out"), False),
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
    ],
)
def test_client_errors_are_permanent_and_server_errors_transient(
    answer: httpx.Response | Exception, permanent: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(SmsError) as caught:
        gateway(handler).send(phone=PHONE, text="你好", reference="ev-1")
    assert caught.value.permanent is permanent
    # The phone number is not kept in the reason, even when the gateway echoes it.
    assert PHONE not in caught.value.reason


def test_an_sms_crosses_a_real_socket(sms_server: SmsServer) -> None:
    sms_server.statuses = [503, 201, 422]
    with httpx.Client(timeout=5) as http:
        sms = SmsGateway(http, sms_server.url, "k-real")
        with pytest.raises(SmsError) as busy:
            sms.send(phone=PHONE, text="工单已办结", reference="ev-9")
        assert busy.value.status_code == 503 and not busy.value.permanent
        sms.send(phone=PHONE, text="工单已办结", reference="ev-9")
        with pytest.raises(SmsError) as refused:
            sms.send(phone="1", text="工单已办结", reference="ev-10")
        assert refused.value.status_code == 422 and refused.value.permanent
    assert [r[0] for r in sms_server.received] == ["/v1/messages"] * 3
    assert {r[1] for r in sms_server.received} == {"Bearer k-real"}
    assert sms_server.received[1][2] == {"phone": PHONE, "text": "工单已办结", "reference": "ev-9"}
