"""Character n-gram features: the batched computation gives what the single one defines."""

import csv
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from feedbackloop.devstack.config import StackSettings
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


def test_two_different_trigrams_can_share_a_key() -> None:
    # The hash wraps at 2**64: (a, b, c) and (a - 1, b + 870, c - 189225) collide whenever
    # all six are code points (a short vector of the lattice a*P**2 + b*P + c = 0 mod 2**64).
    one, other = "小区\U0002e400", "導嚠×"
    assert one != other
    assert ngram_keys(one, 3)[-1] == ngram_keys(other, 3)[-1]


def _real_texts(count: int) -> list[str]:
    with (StackSettings().data_dir / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    # scikit-learn's char analyzer folds runs of white space into one; folded first here, so
    # both see the same characters.
    return [_RUNS_OF_SPACE.sub(" ", f"{row['subject']} {row['body']}") for row in rows]


_RUNS_OF_SPACE = re.compile(r"\s\s+")


def test_the_hashed_tfidf_is_scikit_learns_up_to_key_collisions() -> None:
    """Same vocabulary, same IDF and same row weights as TfidfVectorizer on citizens' texts.

    Every n-gram scikit-learn keeps becomes one key here; two different n-grams sharing a
    key would merge two of its columns into one, and the test counts them (none on this
    sample). Weights agree to float32 precision.
    """
    texts = _real_texts(1250)
    fit, probe = texts[:1000], texts[1000:]
    reference = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 4), min_df=2, sublinear_tf=True, lowercase=False
    ).fit(fit)
    ours = NgramTfidf.fit(fit, longest=4, min_df=2)

    names = reference.get_feature_names_out()
    keys = np.array([ngram_keys(name, len(name))[-1] for name in names], dtype=np.uint64)
    shared_keys = len(keys) - len(np.unique(keys))
    assert shared_keys == 0, f"{shared_keys} of {len(keys)} n-grams share a key"
    assert ours.size == len(names)
    column = np.searchsorted(ours.vocabulary, keys)
    assert np.array_equal(ours.vocabulary[column], keys)
    assert np.allclose(ours.idf[column], reference.idf_, rtol=1e-6)

    expected = reference.transform(probe).toarray()
    got = ours.transform(probe).toarray()[:, column]
    assert np.abs(got - expected).max() < 1e-6
