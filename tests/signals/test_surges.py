"""Surges (舆情预警): a key's hour far above the same hour of its last weeks alerts once; the
quiet baseline stays quiet; large keys warm up, places do not."""

from datetime import UTC, datetime

from feedbackloop.tone import is_heated
from services.signals.surges import HOUR, WEEK, Detector, SurgeRules

# A Monday 10:00 in Beijing (02:00 UTC), five weeks after the history starts.
MONDAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC).timestamp()
_numbers = iter(range(10**9))


def feed(detector: Detector, dimension: str, key: str, start: float, n: int, span: float) -> list:
    """n items of a key spread evenly over `span` seconds from `start`; the surges raised."""
    found = []
    for i in range(n):
        surge = detector.count(
            dimension=dimension,
            key=key,
            ticket_no=f"t{next(_numbers)}",
            at=start + span * i / max(n, 1),
        )
        if surge is not None:
            found.append(surge)
    return found


def history(detector: Detector, key: str, *, busy: int, quiet: int) -> None:
    """Four weeks and a day of a category before MONDAY: `busy` items in each Monday 10:00
    hour, `quiet` in each Sunday 03:00 hour, 3 in every other hour. Its first days may
    alert (a Monday peak against a day of history); what it teaches the baseline counts."""
    start = MONDAY - 4 * WEEK - 24 * HOUR
    for hour in range(int((MONDAY - start) // HOUR)):
        at = start + hour * HOUR
        since_monday = (at - MONDAY) % WEEK
        n = busy if since_monday == 0 else quiet if since_monday == WEEK - 31 * HOUR else 3
        feed(detector, "category", key, at, n, HOUR - 1)


def test_a_burst_about_a_place_nobody_wrote_about_alerts_once_at_its_sixth_item() -> None:
    detector = Detector(SurgeRules())
    assert feed(detector, "place", "幸福小区", MONDAY, 5, 20 * 60) == []
    (surge,) = feed(detector, "place", "幸福小区", MONDAY + 25 * 60, 3, 60)
    assert (surge.count, surge.expected, surge.dimension) == (6, 0.2, "place")
    assert surge.first_at == datetime.fromtimestamp(MONDAY, UTC)
    assert len(surge.ticket_nos) == 6 and len(surge.trend) == 24 and surge.trend[-1] == 6
    # Over an hour later the window is quiet again; a new burst is a new alert.
    assert len(feed(detector, "place", "幸福小区", MONDAY + 3 * HOUR, 6, 600)) == 1


def test_a_redelivered_item_is_counted_once() -> None:
    detector = Detector(SurgeRules())
    for _ in range(10):
        detector.count(dimension="place", key="幸福小区", ticket_no="same", at=MONDAY)
    assert detector.trends[("place", "幸福小区")].at == [MONDAY]


def test_a_category_is_compared_with_the_same_hour_of_its_last_weeks() -> None:
    detector = Detector(SurgeRules())
    history(detector, "城乡建设", busy=40, quiet=1)
    # Monday 10:00: 45 is a normal Monday morning; 150 in half an hour, two hours on, is not.
    assert feed(detector, "category", "城乡建设", MONDAY, 45, HOUR - 1) == []
    (surge,) = feed(detector, "category", "城乡建设", MONDAY + 2 * HOUR, 150, 1800)
    assert surge.count == 30 and surge.expected == 3.0
    # Sunday 03:00 has a quiet baseline: 40 items there are a surge, as 40 on Monday are not.
    sunday = MONDAY + WEEK - 31 * HOUR
    (quiet,) = feed(detector, "category", "城乡建设", sunday, 40, 1800)
    # The window straddles Saturday 02:00-03:00 (3 an hour) and the quiet hour (1).
    assert 1.0 < quiet.expected < 3.0 and quiet.baseline[-1] == 1.0 and quiet.count == 30


def test_a_category_on_a_new_system_waits_for_a_day_of_history() -> None:
    detector = Detector(SurgeRules())
    assert feed(detector, "category", "交通运输", MONDAY, 200, HOUR - 1) == []
    assert feed(detector, "district", "A3区", MONDAY, 200, HOUR - 1) == []


def test_the_heated_share_counts_angry_or_urgent_items() -> None:
    detector = Detector(SurgeRules())
    for i in range(6):
        surge = detector.count(
            dimension="place", key="幸福小区", ticket_no=f"h{i}", at=MONDAY + i, heated=i < 3
        )
    assert surge is not None and surge.heated_share == 0.5
    assert is_heated("停水三天了没人管！！")
    assert is_heated("小区门口有电线掉落", priority="urgent")
    assert not is_heated("请问社保卡怎么补办？")
