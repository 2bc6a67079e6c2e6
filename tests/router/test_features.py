"""Character n-gram features: the batched computation gives what the single one defines."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.features import KeyIndex, NgramTfidf, batch_ngram_keys, ngram_keys

TEXTS = ["", "a", "ab", "小区停水两天了", "路灯坏了", "A3区幸福小区3栋漏水！！", "学校" * 300]


@given(st.lists(st.text(max_size=30), max_size=12))
@settings(max_examples=300, deadline=None)
def test_batched_keys_are_each_texts_own_keys(texts: list[str]) -> None:
    rows, keys = batch_ngram_keys(texts, 4)
    for n, text in enumerate(texts):
        assert sorted(keys[rows == n].tolist()) == sorted(ngram_keys(text, 4).tolist())


def test_the_index_finds_every_key_it_holds_and_nothing_else() -> None:
    rng = np.random.default_rng(7)
    held = np.unique(rng.integers(0, 2**63, size=50_000, dtype=np.uint64))
    others = np.setdiff1d(rng.integers(0, 2**63, size=50_000, dtype=np.uint64), held)
    index = KeyIndex(held)
    assert np.array_equal(index.lookup(held), np.arange(len(held)))
    assert (index.lookup(others) == -1).all()
    mixed = np.concatenate([others[:10], held[::-1]])
    assert np.array_equal(index.lookup(mixed)[10:], np.arange(len(held))[::-1])


def test_tfidf_rows_are_unit_length_and_count_repeats_sublinearly() -> None:
    features = NgramTfidf.fit(TEXTS * 2)
    rows = features.transform(["路灯坏了路灯坏了", "没见过的字", ""]).toarray()
    assert np.allclose(np.linalg.norm(rows[0]), 1.0)
    assert not rows[1].any() and not rows[2].any()  # nothing known: all zero, not NaN
    once = features.transform(["路灯坏了"]).toarray()[0]
    assert np.array_equal(rows[0] > 0, once > 0)  # the same n-grams, weighted otherwise
