"""The router's MinHash held against datasketch's, on real citizens' messages."""

import csv
import random

import numpy as np
from datasketch import MinHash

from feedbackloop.devstack.config import StackSettings
from services.router.hotspots import PERMUTATIONS, _letters, signatures_of


def _trigrams(text: str) -> set[str]:
    letters = _letters(text)
    return {letters[i : i + 3] for i in range(len(letters) - 2)}


def _datasketch_estimate(one: set[str], other: set[str]) -> float:
    first, second = MinHash(num_perm=PERMUTATIONS, seed=7), MinHash(num_perm=PERMUTATIONS, seed=7)
    first.update_batch([s.encode() for s in one])
    second.update_batch([s.encode() for s in other])
    return float(first.jaccard(second))


def _pairs() -> list[tuple[str, str]]:
    """Real messages, each with a copy edited to a random degree, and some unrelated pairs."""
    with (StackSettings().data_dir / "messages_with_votes.csv").open(encoding="utf-8") as handle:
        texts = [row["detail"] for row in csv.DictReader(handle) if len(row["detail"]) >= 60]
    rng = random.Random(5)
    sample = rng.sample(texts, 300)
    pairs = []
    for text in sample[:240]:
        text = text[:200]  # the signature reads the first 300 characters (letters fewer)
        cut = rng.randrange(len(text) // 2)
        start = rng.randrange(len(text) - cut)
        pairs.append((text, text[:start] + rng.choice(sample)[:cut] + text[start + cut :]))
    pairs += list(zip(sample[240:270], sample[270:300], strict=True))
    return pairs


def test_estimated_similarity_is_as_close_to_the_true_one_as_datasketchs() -> None:
    pairs = _pairs()
    ours = signatures_of([t for pair in pairs for t in pair]).reshape(len(pairs), 2, -1)
    estimates = np.count_nonzero(ours[:, 0] == ours[:, 1], axis=1) / PERMUTATIONS
    exact, reference = [], []
    for one, other in pairs:
        a, b = _trigrams(one), _trigrams(other)
        exact.append(len(a & b) / len(a | b))
        reference.append(_datasketch_estimate(a, b))
    exact_a, reference_a = np.array(exact), np.array(reference)
    assert np.ptp(exact_a) > 0.8  # the pairs cover the whole range of similarity
    our_error = np.abs(estimates - exact_a)
    reference_error = np.abs(reference_a - exact_a)
    # 64 permutations: the standard error of an estimate is at most 1/16.
    assert our_error.mean() <= reference_error.mean() + 0.01, (
        our_error.mean(),
        reference_error.mean(),
    )
    assert np.abs(estimates - reference_a).max() <= 0.3
    assert our_error.max() <= 0.25
    # At the duplicate threshold, both agree on nearly every pair.
    agree = (estimates >= 0.6) == (reference_a >= 0.6)
    assert agree.mean() >= 0.9
