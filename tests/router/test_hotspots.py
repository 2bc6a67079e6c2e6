"""Near-duplicates: MinHash signatures, their index and the detector's window."""

from datetime import UTC, datetime, timedelta

import numpy as np

from services.router.hotspots import (
    Detector,
    SignatureIndex,
    fingerprints_of,
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
    first = detector.observe(ticket_id="a", ticket_no="1", text=NOISE, at=T0)
    again = detector.observe(
        ticket_id="b",
        ticket_no="2",
        text=NOISE.replace("一个星期", "七天了"),
        at=T0 + timedelta(hours=3),
    )
    canteen = "学校食堂的饭菜价格太贵，学生吃不起。"
    other = detector.observe(ticket_id="c", ticket_no="3", text=canteen, at=T0 + timedelta(hours=4))
    assert first.duplicate_of is None
    assert again.duplicate_of == "1" and again.similarity >= 0.6
    assert other.duplicate_of is None


def test_a_copy_after_the_window_is_a_new_item() -> None:
    detector = Detector()
    detector.observe(ticket_id="a", ticket_no="1", text=NOISE, at=T0)
    late = detector.observe(ticket_id="b", ticket_no="2", text=NOISE, at=T0 + timedelta(hours=73))
    assert late.duplicate_of is None


def test_a_redelivered_item_is_not_its_own_duplicate() -> None:
    detector = Detector()
    first = detector.observe(ticket_id="a", ticket_no="1", text=NOISE, at=T0)
    assert detector.observe(ticket_id="a", ticket_no="1", text=NOISE, at=T0) == first


def test_batched_signatures_are_the_single_ones() -> None:
    texts = [NOISE, "", "a", "ab", "！！！", "abc", NOISE[:10], "学校食堂的饭菜价格太贵" * 40] * 20
    expected = np.array([signature_of(text) for text in texts])
    assert np.array_equal(signatures_of(texts), expected)
    assert np.array_equal(
        signatures_of([t for t in texts if len(t) >= 3]),
        expected[[i for i, t in enumerate(texts) if len(t) >= 3]],
    )


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
