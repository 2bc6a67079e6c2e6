"""Near-duplicates and hotspots."""

import csv
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackloop.devstack.config import StackSettings
from services.router.hotspots import (
    PLACE,
    Detector,
    SignatureIndex,
    _place_matches,
    fingerprints_of,
    place_of,
    signature_of,
    signatures_of,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOISE = (
    "幸福小区3栋门口的下水道堵了一个星期，污水漫到路上，臭味很大，"
    "老人小孩出门都要绕道走，请尽快疏通。"
)


def test_a_near_copy_is_linked_to_the_earlier_ticket() -> None:
    detector = Detector()
    first = detector.observe(ticket_id="a", ticket_no="1", text=NOISE, category="城乡建设", at=T0)
    again = detector.observe(
        ticket_id="b", ticket_no="2", text=NOISE.replace("一个星期", "七天了"), category="城乡建设",
        at=T0 + timedelta(hours=3),
    )  # fmt: skip
    canteen = "学校食堂的饭菜价格太贵，学生吃不起。"
    other = detector.observe(
        ticket_id="c", ticket_no="3", text=canteen, category="教育文体", at=T0 + timedelta(hours=4)
    )
    assert first.duplicate_of is None
    assert again.duplicate_of == "1" and again.similarity >= 0.6
    assert other.duplicate_of is None


def test_a_copy_after_the_window_is_a_new_item() -> None:
    detector = Detector()
    detector.observe(ticket_id="a", ticket_no="1", text=NOISE, category=None, at=T0)
    late = detector.observe(
        ticket_id="b", ticket_no="2", text=NOISE, category=None, at=T0 + timedelta(hours=73)
    )
    assert late.duplicate_of is None


def test_a_redelivered_item_is_not_its_own_duplicate() -> None:
    detector = Detector()
    first = detector.observe(ticket_id="a", ticket_no="1", text=NOISE, category=None, at=T0)
    assert detector.observe(ticket_id="a", ticket_no="1", text=NOISE, category=None, at=T0) == first


def test_a_burst_about_one_place_raises_one_hotspot() -> None:
    detector = Detector(hotspot_items=5, hotspot_window=timedelta(hours=24))
    texts = [
        "幸福小区停车位被外来车辆占满", "幸福小区物业乱收停车费", "幸福小区电梯又坏了",
        "幸福小区门口垃圾没人清", "幸福小区绿化带被毁", "幸福小区楼道灯不亮",
    ]  # fmt: skip
    hotspots = [
        detector.observe(
            ticket_id=str(n), ticket_no=f"N{n}", text=text, category="城乡建设",
            at=T0 + timedelta(hours=n),
        ).hotspot
        for n, text in enumerate(texts)
    ]  # fmt: skip
    fired = [h for h in hotspots if h is not None]
    assert len(fired) == 1 and hotspots[4] is not None
    assert fired[0].place == "幸福小区" and fired[0].ticket_nos == ("N0", "N1", "N2", "N3", "N4")


def test_items_spread_over_days_are_no_hotspot() -> None:
    detector = Detector(hotspot_items=3, hotspot_window=timedelta(hours=24))
    observations = [
        detector.observe(
            ticket_id=str(n), ticket_no=str(n), text="幸福小区电梯坏了", category="城乡建设",
            at=T0 + timedelta(days=2 * n),
        )
        for n in range(4)
    ]  # fmt: skip
    assert all(o.hotspot is None for o in observations)


def test_places_are_specific() -> None:
    assert place_of("A3区幸福小区3栋漏水") == "A3区幸福小区"
    assert place_of("A市五一大道噪音扰民") == "A市五一大道"
    assert place_of("A3区有问题") is None
    assert place_of("我们来自农村，今有关于小区的事") is None
    assert place_of("其中包括星沙街道的几个路口") == "星沙街道"


def test_batched_signatures_are_the_single_ones() -> None:
    texts = [NOISE, "", "a", "ab", "！！！", "abc", NOISE[:10], "学校食堂的饭菜价格太贵" * 40] * 20
    expected = np.array([signature_of(text) for text in texts])
    assert np.array_equal(signatures_of(texts), expected)
    assert np.array_equal(signatures_of([t for t in texts if len(t) >= 3]), expected[
        [i for i, t in enumerate(texts) if len(t) >= 3]
    ])  # fmt: skip


# Letters that make places (suffixes, names, break characters) and some that end them.
PLACE_ALPHABET = "小区花园村镇街道大路学校中幼儿医院市场广公社家的是在来自A1z ，。\n_é"


@given(st.text(alphabet=PLACE_ALPHABET, max_size=40))
@settings(max_examples=3000, deadline=None)
def test_places_are_found_as_the_place_pattern_defines_them(text: str) -> None:
    assert list(_place_matches(text)) == [m.group(1) for m in PLACE.finditer(text)]


def test_places_in_the_real_messages_are_found_as_the_pattern_defines_them() -> None:
    with (StackSettings().data_dir / "messages_with_votes.csv").open(encoding="utf-8") as handle:
        texts = [f"{row['subject']}\n{row['detail']}" for row in csv.DictReader(handle)]
    for text in texts:
        assert list(_place_matches(text)) == [m.group(1) for m in PLACE.finditer(text)]


def test_an_index_forgets_items_and_their_buckets() -> None:
    index = SignatureIndex()
    texts = [NOISE, NOISE, NOISE.replace("一个星期", "七天了"), "学校食堂的饭菜价格太贵"]
    for n, fingerprint in enumerate(fingerprints_of(texts)):
        index.insert(str(n), fingerprint)
    (probe,) = fingerprints_of([NOISE])
    assert index.most_similar(probe) in (("0", 1.0), ("1", 1.0))
    index.remove("0")
    assert index.most_similar(probe) == ("1", 1.0)
    index.remove("1")
    best, similarity = index.most_similar(probe)
    assert best == "2" and 0.6 <= similarity < 1.0
    for key in ("2", "3"):
        index.remove(key)
    assert index.most_similar(probe) == (None, 0.0)
    assert not index._buckets and not index._fingerprints
