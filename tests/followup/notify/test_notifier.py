"""Delivering notifications: routes, retries with backoff, dead letters, once per event id."""

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Channel
from services.followup.notify.models import CallbackTask, NotificationRecord
from services.followup.notify.notifier import Notification, Notifier
from services.followup.notify.sms import SmsGateway
from services.followup.notify.wechat import WeChatClient
from tests.followup.notify.fake_wechat import BUSY, UNSUBSCRIBED, WINDOW_CLOSED, FakeWeChat
from tests.followup.notify.sms_server import SmsServer

PHONE = "13812345678"
OPENID = "oia2TjuEGTNoeX76QEjQNrcURxG8"
TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


class Harness:
    """A notifier with recorded sleeps and dead letters, and an SMS gateway answering by queue."""

    def __init__(
        self, sessions: sessionmaker[Session], wechat: WeChatClient | None, **options: object
    ) -> None:
        self.sessions = sessions
        self.delays: list[float] = []
        self.dead: list[tuple[Notification, str]] = []
        self.sms_answers: list[httpx.Response] = []
        self.sms_requests: list[httpx.Request] = []
        sms = SmsGateway(
            httpx.Client(transport=httpx.MockTransport(self._sms)),
            "https://sms.example.gov.cn/v1/messages",
            "k-1",
        )
        self.notifier = Notifier(
            sessions,
            wechat,
            sms,
            lambda n, reason: self.dead.append((n, reason)),
            sleep=self.delays.append,
            clock=lambda: NOW,
            **options,  # type: ignore[arg-type]
        )

    def _sms(self, request: httpx.Request) -> httpx.Response:
        self.sms_requests.append(request)
        return self.sms_answers.pop(0) if self.sms_answers else httpx.Response(200, json={})

    def record(self, event_id: str) -> NotificationRecord:
        with self.sessions() as session:
            stmt = select(NotificationRecord).where(NotificationRecord.event_id == event_id)
            return session.execute(stmt).scalar_one()


def wechat_item(event_id: str = "ev-1", **fields: object) -> Notification:
    values: dict[str, object] = {
        "event_id": event_id,
        "ticket_no": "2611221000014",
        "channel": Channel.WECHAT,
        "wechat_openid": OPENID,
        "purpose": "resolved",
        "text": "您反映的问题（工单号2611221000014）已由市水务局办结。",
        "link": "https://12345.example.gov.cn/t/2611221000014",
    }
    values.update(fields)
    return Notification(**values)  # type: ignore[arg-type]


def web_item(event_id: str = "ev-2", **fields: object) -> Notification:
    values: dict[str, object] = {
        "channel": Channel.WEB,
        "wechat_openid": None,
        "phone": PHONE,
        "phone_masked": "138****5678",
    }
    values.update(fields)
    return wechat_item(event_id, **values)


def assert_exponential(delays: list[float], base: float) -> None:
    for n, delay in enumerate(delays):
        assert base * 2**n <= delay <= base * 2**n * 1.25
    assert delays == sorted(delays) and len(set(delays)) == len(delays)


@pytest.fixture
def harness(sessions: sessionmaker[Session], wechat: WeChatClient) -> Harness:
    return Harness(sessions, wechat, wechat_template_id=TEMPLATE_ID)


def test_a_wechat_item_is_sent_on_wechat_and_recorded(
    harness: Harness, fake_wechat: FakeWeChat
) -> None:
    assert harness.notifier.deliver(wechat_item()) == "sent"
    assert fake_wechat.custom_sent[0]["text"]["content"].startswith("您反映的问题")
    record = harness.record("ev-1")
    assert (record.channel, record.status, record.attempts) == ("wechat", "sent", 1)
    assert record.sent_at == NOW and record.last_error is None
    assert harness.dead == [] and harness.delays == []


def test_a_transient_failure_is_retried_with_growing_delays_until_it_passes(
    harness: Harness, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.custom_replies.extend([BUSY, BUSY, httpx.ConnectTimeout("timed out")])
    assert harness.notifier.deliver(wechat_item()) == "sent"
    assert len(fake_wechat.custom_sent) == 1
    assert harness.record("ev-1").attempts == 4
    assert len(harness.delays) == 3
    assert_exponential(harness.delays, base=1.0)


def test_a_permanent_failure_is_recorded_and_dead_lettered_without_retrying(
    harness: Harness, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.custom_replies.append(UNSUBSCRIBED)
    item = wechat_item()
    assert harness.notifier.deliver(item) == "failed"
    record = harness.record("ev-1")
    assert (record.status, record.attempts, record.sent_at) == ("failed", 1, None)
    assert record.last_error is not None and "43004" in record.last_error
    assert harness.delays == []
    assert len(harness.dead) == 1
    assert harness.dead[0][0] is item
    assert harness.dead[0][1].startswith("wechat 43004: require subscribe")


def test_the_same_event_twice_is_delivered_once(harness: Harness, fake_wechat: FakeWeChat) -> None:
    assert harness.notifier.deliver(wechat_item()) == "sent"
    assert harness.notifier.deliver(wechat_item(text="重复的事件")) == "sent"
    assert len(fake_wechat.custom_sent) == 1
    assert fake_wechat.tokens_used == ["84_TOKEN_1"]
    with harness.sessions() as session:
        assert session.scalar(select(func.count()).select_from(NotificationRecord)) == 1


def test_a_closed_service_window_falls_back_to_a_template_message(
    harness: Harness, fake_wechat: FakeWeChat
) -> None:
    # The template call fails once transiently; the retry must not try the closed window again.
    fake_wechat.custom_replies.append(WINDOW_CLOSED)
    fake_wechat.template_replies.append(BUSY)
    assert harness.notifier.deliver(wechat_item()) == "sent"
    assert fake_wechat.custom_sent == []
    assert fake_wechat.templates_sent == [
        {
            "touser": OPENID,
            "template_id": TEMPLATE_ID,
            "url": "https://12345.example.gov.cn/t/2611221000014",
            "data": {
                "character_string1": {"value": "2611221000014"},
                "thing2": {"value": "诉求已办结"},
            },
        }
    ]
    assert harness.record("ev-1").attempts == 2


def test_a_closed_service_window_without_a_template_fails(
    sessions: sessionmaker[Session], wechat: WeChatClient, fake_wechat: FakeWeChat
) -> None:
    harness = Harness(sessions, wechat)
    fake_wechat.custom_replies.append(WINDOW_CLOSED)
    assert harness.notifier.deliver(wechat_item()) == "failed"
    assert "45015" in harness.dead[0][1]
    assert fake_wechat.templates_sent == []


def test_a_web_item_goes_by_sms_with_the_event_id_as_reference(harness: Harness) -> None:
    assert harness.notifier.deliver(web_item()) == "sent"
    (request,) = harness.sms_requests
    assert json.loads(request.content) == {
        "phone": PHONE,
        "text": "您反映的问题（工单号2611221000014）已由市水务局办结。",
        "reference": "ev-2",
    }
    assert harness.record("ev-2").channel == "sms"


def test_a_wechat_item_without_an_openid_goes_by_sms(harness: Harness) -> None:
    item = wechat_item(wechat_openid=None, phone=PHONE, purpose="reply")
    assert harness.notifier.deliver(item) == "sent"
    assert harness.record("ev-1").channel == "sms"


def test_an_sms_client_error_is_permanent(harness: Harness) -> None:
    harness.sms_answers.append(httpx.Response(400, json={"error": "invalid phone"}))
    assert harness.notifier.deliver(web_item()) == "failed"
    assert len(harness.sms_requests) == 1 and harness.delays == []
    assert harness.dead[0][1] == "sms: gateway answered HTTP 400"


def test_sms_server_errors_are_retried_up_to_the_limit_then_dead_lettered(
    sessions: sessionmaker[Session],
) -> None:
    harness = Harness(sessions, None, max_attempts=4, base_delay=0.5)
    harness.sms_answers.extend([httpx.Response(503)] * 4)
    assert harness.notifier.deliver(web_item()) == "failed"
    assert len(harness.sms_requests) == 4
    assert_exponential(harness.delays, base=0.5)
    assert len(harness.delays) == 3
    assert harness.dead[0][1] == "gave up after 4 attempts: sms: gateway answered HTTP 503"
    assert harness.record("ev-2").attempts == 4


def test_a_failed_notification_is_tried_again_when_its_event_comes_again(
    harness: Harness,
) -> None:
    harness.sms_answers.append(httpx.Response(400))
    assert harness.notifier.deliver(web_item()) == "failed"
    assert harness.notifier.deliver(web_item()) == "sent"
    record = harness.record("ev-2")
    assert (record.status, record.attempts, record.last_error) == ("sent", 2, None)
    assert len(harness.dead) == 1


def test_an_item_with_no_way_to_reach_the_citizen_is_dead_lettered(harness: Harness) -> None:
    assert harness.notifier.deliver(web_item(phone=None)) == "failed"
    assert harness.sms_requests == []
    assert harness.dead[0][1] == "no phone number to send an SMS to"


def test_a_missing_wechat_client_is_a_permanent_failure(sessions: sessionmaker[Session]) -> None:
    harness = Harness(sessions, None)
    assert harness.notifier.deliver(wechat_item()) == "failed"
    assert harness.dead[0][1] == "wechat is not configured"


def test_a_hotline_item_becomes_a_callback_task(harness: Harness) -> None:
    item = web_item("ev-3", channel=Channel.HOTLINE, purpose="survey", phone_sealed="gAAAAABsealed")
    assert harness.notifier.deliver(item) == "queued"
    assert harness.notifier.deliver(item) == "queued"
    assert harness.sms_requests == []
    with harness.sessions() as session:
        (task,) = session.execute(select(CallbackTask)).scalars()
    assert (task.event_id, task.ticket_no, task.purpose) == ("ev-3", "2611221000014", "survey")
    assert (task.phone_masked, task.phone_sealed) == ("138****5678", "gAAAAABsealed")
    assert task.created_at == NOW and task.done_at is None
    record = harness.record("ev-3")
    assert (record.channel, record.status, record.sent_at) == ("callback", "queued", None)


def test_a_hotline_item_without_any_number_fails(harness: Harness) -> None:
    item = web_item("ev-4", channel=Channel.HOTLINE, phone=None, phone_masked=None)
    assert harness.notifier.deliver(item) == "failed"
    assert harness.dead[0][1] == "no phone number to call back"


def test_a_delivery_recorded_concurrently_stands(harness: Harness) -> None:
    # Another consumer records the same event while this one is talking to the gateway.
    def other_consumer_wins(request: httpx.Request) -> httpx.Response:
        with harness.sessions.begin() as session:
            session.add(
                NotificationRecord(
                    event_id="ev-2",
                    ticket_no="2611221000014",
                    channel="sms",
                    status="sent",
                    attempts=7,
                    created_at=NOW,
                    sent_at=NOW,
                )
            )
        return httpx.Response(200)

    harness.notifier._sms._http = httpx.Client(  # type: ignore[union-attr]
        transport=httpx.MockTransport(other_consumer_wins)
    )
    assert harness.notifier.deliver(web_item()) == "sent"
    assert harness.dead == []
    assert harness.record("ev-2").attempts == 7


def test_a_concurrent_insert_of_the_same_event_is_caught_at_commit(harness: Harness) -> None:
    # The other consumer commits between this one's lookup and its insert.
    fired: list[bool] = []

    def other_consumer_commits(session: Session, *_args: object) -> None:
        if fired:
            return
        fired.append(True)
        with harness.sessions.begin() as other:
            other.add(
                NotificationRecord(
                    event_id="ev-2",
                    ticket_no="2611221000014",
                    channel="sms",
                    status="sent",
                    attempts=7,
                    created_at=NOW,
                )
            )

    event.listen(harness.sessions, "before_flush", other_consumer_commits)
    harness.sms_answers.append(httpx.Response(400))
    assert harness.notifier.deliver(web_item()) == "sent"
    assert fired and harness.dead == []
    assert harness.record("ev-2").attempts == 7


def test_the_phone_number_stays_out_of_reprs_and_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="services.followup.notify")
    harness.sms_answers.append(httpx.Response(503))
    harness.notifier.deliver(web_item())
    assert PHONE not in repr(web_item())
    assert caplog.records and PHONE not in caplog.text


def test_a_notification_reaches_a_real_sms_gateway_over_the_network(
    sessions: sessionmaker[Session], sms_server: SmsServer
) -> None:
    sms_server.statuses = [503, 502]
    delays: list[float] = []
    with httpx.Client(timeout=5) as http:
        notifier = Notifier(
            sessions,
            None,
            SmsGateway(http, sms_server.url, "k-real"),
            lambda n, reason: pytest.fail(reason),
            base_delay=0.01,
            sleep=delays.append,
        )
        assert notifier.deliver(web_item("ev-net")) == "sent"
        assert notifier.deliver(web_item("ev-net")) == "sent"
    assert len(sms_server.received) == 3
    assert {body["reference"] for _path, _auth, body in sms_server.received} == {"ev-net"}
    assert_exponential(delays, base=0.01)
    with sessions() as session:
        record = session.execute(select(NotificationRecord)).scalar_one()
    assert (record.status, record.attempts) == ("sent", 3)
    assert record.sent_at is not None and record.sent_at.tzinfo is not None
