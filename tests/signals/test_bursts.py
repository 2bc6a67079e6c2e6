"""Counting items per place and category: one alert per burst, in item time."""

from datetime import UTC, datetime, timedelta

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    HotspotDetected,
    decode,
    encode,
    new_event,
)
from services.signals.agents import hotspot_event, sighting_of
from services.signals.bursts import Counter, count, empty_burst, is_stale
from services.signals.records import Burst
from tests.factories import received, routed

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC).timestamp()
HOUR, DAY = 3600.0, 86400.0


def _counter(items: int = 5) -> Counter:
    return Counter(items=items, window=DAY)


def test_a_burst_about_one_place_raises_one_hotspot() -> None:
    counter = _counter()
    spots = [
        counter.count(place="幸福小区", category="城乡建设", ticket_no=f"N{n}", at=T0 + n * HOUR)
        for n in range(7)
    ]
    fired = [s for s in spots if s is not None]
    assert len(fired) == 1 and spots[4] is not None
    assert fired[0].ticket_nos == ("N0", "N1", "N2", "N3", "N4")
    assert fired[0].first_at.timestamp() == T0 and fired[0].last_at.timestamp() == T0 + 4 * HOUR


def test_items_spread_over_days_are_no_hotspot() -> None:
    counter = _counter(items=3)
    spots = [
        counter.count(place="幸福小区", category="城乡建设", ticket_no=str(n), at=T0 + 2 * n * DAY)
        for n in range(4)
    ]
    assert spots == [None] * 4


def test_places_and_categories_are_counted_apart() -> None:
    counter = _counter(items=3)
    spots = [
        counter.count(place=place, category=category, ticket_no=f"{place}{category}{n}", at=T0)
        for n in range(2)
        for place in ("幸福小区", "星沙街道")
        for category in ("城乡建设", "环境保护")
    ]
    assert spots == [None] * 8


def test_a_second_burst_after_a_quiet_window_raises_a_second_hotspot() -> None:
    counter = _counter(items=3)
    times = [0, 1, 2, 3, 4, 30, 31, 32]
    spots = [
        counter.count(place="幸福小区", category="城乡建设", ticket_no=str(h), at=T0 + h * HOUR)
        for h in times
    ]
    assert [s.ticket_nos for s in spots if s] == [("0", "1", "2"), ("30", "31", "32")]


def test_an_item_counted_again_changes_nothing_but_repeats_its_alert() -> None:
    counter = _counter(items=3)
    for n in range(2):
        counter.count(place="幸福小区", category="城乡建设", ticket_no=str(n), at=T0 + n)
    assert counter.count(place="幸福小区", category="城乡建设", ticket_no="1", at=T0 + 1) is None
    first = counter.count(place="幸福小区", category="城乡建设", ticket_no="2", at=T0 + 2)
    again = counter.count(place="幸福小区", category="城乡建设", ticket_no="2", at=T0 + 2)
    assert first is not None and again == first
    assert counter.bursts["幸福小区", "城乡建设"].ticket_nos == ["0", "1", "2"]


def test_items_out_of_time_order_are_counted_in_time_order() -> None:
    burst = empty_burst()
    for number, at in (("b", T0 + 2 * HOUR), ("a", T0), ("c", T0 + HOUR)):
        burst, _ = count(
            burst, place="p", category="c", ticket_no=number, at=at, items=9, window=DAY
        )
    assert burst.ticket_nos == ["a", "c", "b"]
    # An item older than the window before the latest falls out at once.
    burst, _ = count(
        burst, place="p", category="c", ticket_no="old", at=T0 - DAY, items=9, window=DAY
    )
    assert burst.ticket_nos == ["a", "c", "b"]


def test_a_place_is_stale_once_its_items_and_alert_are_older_than_the_window() -> None:
    burst = Burst(at=[T0], ticket_nos=["1"], fired_at=T0 + HOUR)
    assert not is_stale(burst, now=T0 + DAY, window=DAY)
    assert is_stale(burst, now=T0 + HOUR + DAY, window=DAY)


def test_a_burst_survives_its_serialisation() -> None:
    burst, _ = count(
        empty_burst(3), place="p", category="c", ticket_no="1", at=T0, items=1, window=DAY
    )
    again = Burst.loads(burst.dumps(), serializer="json")
    assert again == burst and again.fired_nos == ["1"] and again.partition == 3


def _routed(item: Envelope[FeedbackReceived], category: str | None) -> Envelope[FeedbackRouted]:
    event = routed(item)
    data = event.data.model_copy(update={"category": category})
    return new_event(data=data, source=event.source, subject=event.subject, event_id=event.id)


def test_a_routed_item_naming_a_place_is_a_sighting() -> None:
    item = received(text="A3区幸福小区3栋楼道的灯坏了一个月")
    sighting = sighting_of(encode(_routed(item, "城乡建设")))
    assert sighting is not None
    assert (sighting.place, sighting.category) == ("A3区幸福小区", "城乡建设")
    assert sighting.ticket_no == item.data.ticket_no
    assert sighting.at == item.data.received_at.timestamp()
    assert sighting_of(encode(_routed(item, None))) is None
    assert sighting_of(encode(_routed(received(text="路灯坏了"), "城乡建设"))) is None
    assert sighting_of(b"not an event") is None


def test_an_alert_has_the_id_of_the_ticket_that_completed_the_burst() -> None:
    counter = _counter(items=2)
    counter.count(place="幸福小区", category="城乡建设", ticket_no="1", at=T0)
    spot = counter.count(place="幸福小区", category="城乡建设", ticket_no="2", at=T0 + HOUR)
    assert spot is not None
    first = hotspot_event(spot, window_seconds=DAY)
    again = hotspot_event(spot, window_seconds=DAY)
    assert first.id == again.id and first.subject == "hotspot:幸福小区"
    data = decode(encode(first), expect=HotspotDetected).data
    assert data.ticket_nos == ["1", "2"] and data.window_hours == 24
    assert data.last_at - data.first_at == timedelta(hours=1)
