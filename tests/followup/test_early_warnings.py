"""舆情预警 at the centre: the signals worker's surges and hotspots are stored once, a surge
tells the operators on duty without any personal datum, and the warning page shows the trend,
the items behind it, today's hotspots and near-duplicates and the share of heated items."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from feedbackloop.events import (
    Contact,
    HotspotDetected,
    SurgeDetected,
    SurgeDimension,
    encode,
    new_event,
)
from feedbackloop.runtime.store_batches import StoreBatch
from services.followup import early_warnings
from services.followup.models import EarlyWarning
from services.followup.notify import Notification
from tests import factories
from tests.followup.conftest import Desk
from tests.followup.test_web import sign_in, token_of

NOW = datetime.now(UTC)
PHONE = "13912345678"


def surge(numbers: list[str], key: str = "幸福小区") -> object:
    data = SurgeDetected(
        dimension=SurgeDimension.PLACE,
        key=key,
        count=len(numbers),
        expected=0.2,
        heated_share=0.5,
        ticket_nos=numbers,
        first_at=NOW - timedelta(minutes=20),
        last_at=NOW - timedelta(minutes=1),
        trend=[0] * 23 + [len(numbers)],
        baseline=[0.2] * 24,
    )
    return new_event(data=data, source="/signals", subject=f"surge:place:{key}")


class Told:
    """A notifier that keeps what it was given (the real one is tested in tests/followup/notify)."""

    def __init__(self) -> None:
        self.notices: list[Notification] = []

    def deliver(self, notification: Notification) -> str:
        self.notices.append(notification)
        return "sent"


def apply(batch: StoreBatch, *events: object) -> list:
    """Hand the batch the records of some events, as the consumer loop does."""
    records = factories.records(*[encode(e) for e in events], topic="feedback.hotspots")  # type: ignore[arg-type]
    return batch.apply_batch(batch.prepare(records))  # type: ignore[arg-type]


def test_a_surge_is_stored_once_and_tells_the_operators_on_duty(desk: Desk) -> None:
    told = Told()
    batch = early_warnings.warnings_batch(
        sessions=desk.sessions,
        notifier=told,  # type: ignore[arg-type]
        webhooks={"duty": "http://127.0.0.1:9/robot"},
        base_url="http://127.0.0.1:8003",
    )
    event = surge(["2612041000017", "2612041000025"])
    hotspot = new_event(
        data=HotspotDetected(
            place="幸福小区",
            category="城乡建设",
            ticket_nos=["2612041000017"],
            window_hours=24,
            first_at=NOW,
            last_at=NOW,
        ),
        source="/signals",
        subject="hotspot:幸福小区",
    )
    for _ in range(2):  # a redelivery
        apply(batch, event, hotspot)
    with desk.sessions() as session:
        kinds = sorted(w.kind for w in session.query(EarlyWarning))
    assert kinds == ["hotspot", "surge"]
    (notice,) = told.notices
    assert notice.staff_url == "http://127.0.0.1:9/robot"
    assert notice.text.startswith("【12345舆情预警】地点“幸福小区”近1小时诉求2件，往常同期约0.2件")
    assert notice.text.endswith("/workbench/warnings") and "50%" in notice.text
    quiet = early_warnings.warnings_batch(
        sessions=desk.sessions,
        notifier=told,
        webhooks={},
        base_url="",  # type: ignore[arg-type]
    )
    apply(quiet, surge(["2612041000033"], key="阳光花园"))
    assert len(told.notices) == 1  # nobody on duty has a webhook: the page only


def test_the_warning_page_shows_the_trend_the_items_and_today_s_picture(desk: Desk) -> None:
    item = factories.received(
        f"幸福小区停水两天了没人管！！电话{PHONE}",
        title="小区停水",
        ticket_no="2612041000017",
        received_at=NOW - timedelta(minutes=30),
        contact=Contact(phone_masked="139****5678"),
    )
    desk.route(factories.routed(item, department="water", duplicate_of="2612041000025"))
    batch = early_warnings.warnings_batch(
        sessions=desk.sessions,
        notifier=Told(),  # type: ignore[arg-type]
        webhooks={},
        base_url="",
    )
    apply(batch, surge(["2612041000017", "2612041000041"]))
    operator = TestClient(desk.client.app)
    sign_in(operator, token_of(desk, "operator"))
    page = operator.get("/workbench/warnings").text
    assert "地点 幸福小区" in page and "近 1 小时 2 件" in page and "往常同期约 0.2 件" in page
    assert page.count("<rect ") == 24 and "<polyline" in page
    assert page.count("时</text>") == 5  # hours 0, 6, 12 and 18 of the chart, and the last
    assert 'href="/workbench/tickets/2612041000017"' in page and "小区停水" in page
    assert '2612041000041</span> <span class="muted">尚未派单' in page
    assert "2612041000025" in page  # today's near-duplicate
    assert "其中情绪激烈或紧急的 1 件" in page
    assert PHONE not in page
    clerk = TestClient(desk.client.app)
    sign_in(clerk, token_of(desk, "water"))
    assert clerk.get("/workbench/warnings").status_code == 403


def test_an_alert_that_is_no_event_is_skipped(desk: Desk) -> None:
    batch = early_warnings.warnings_batch(
        sessions=desk.sessions,
        notifier=Told(),  # type: ignore[arg-type]
        webhooks={},
        base_url="",
    )
    records = factories.records(b"not json", encode(surge(["2612041000017"])))  # type: ignore[arg-type]
    assert batch.apply_batch(batch.prepare(records)) == []  # type: ignore[arg-type]
    with desk.sessions() as session:
        assert session.query(EarlyWarning).count() == 1
