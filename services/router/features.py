"""Character n-gram TF-IDF features, computed with numpy instead of per-n-gram Python loops.

Each n-gram (n = 1..4) of a text becomes a 64-bit key, a polynomial hash of its code points
that wraps at 2**64. It is a hash, not an encoding: two different n-grams can share a key
(from n = 3 on, the products of the code points wrap), and then they share one column.
Among a vocabulary's keys that is rare: tests/router/test_features.py holds the features
against scikit-learn's exact n-grams on a thousand of the training texts and finds none.
The vocabulary is the sorted array of keys seen in at least two training texts; an
open-addressing hash table (`KeyIndex`) maps keys to columns, probed with numpy for a whole
batch at once. Weights are sublinear term frequency times smoothed IDF, L2-normalised per
text, as scikit-learn's `TfidfVectorizer(analyzer="char", sublinear_tf=True)` computes them,
without its analyzer's Python loop over every n-gram.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

_PRIME = np.uint64(0x100000001B3)
_SPREAD = np.uint64(31)


def ngram_keys(text: str, longest: int) -> np.ndarray:
    """The keys of every character n-gram of a text, n = 1..longest (with repeats)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    keys = []
    rolling = codes
    with np.errstate(over="ignore"):  # wrapping multiplication is the hash
        for n in range(1, longest + 1):
            if n > 1:
                rolling = rolling[:-1] * _PRIME + codes[n - 1 :]
            if not len(rolling):
                break
            keys.append(rolling * _SPREAD + np.uint64(n))
    return np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)


def trigram_keys(codes: np.ndarray) -> np.ndarray:
    """The keys `ngram_keys` gives the 3-grams of a run of code points (uint64), in order."""
    with np.errstate(over="ignore"):
        rolling = (codes[:-2] * _PRIME + codes[1:-1]) * _PRIME + codes[2:]
        return rolling * _SPREAD + np.uint64(3)


def batch_ngram_keys(texts: list[str], longest: int) -> tuple[np.ndarray, np.ndarray]:
    """`ngram_keys` of many texts in a few numpy calls: (text of each key, keys).

    The texts' code points are hashed as one run; an n-gram that would reach into the next
    text is dropped. Per text, the keys are those `ngram_keys` gives (in another order).
    """
    lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    # How many code points of its own text follow each position, itself included.
    left = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(codes), dtype=np.int64)
    rows, keys = [], []
    rolling = codes
    with np.errstate(over="ignore"):
        for n in range(1, longest + 1):
            if n > 1:
                rolling = rolling[:-1] * _PRIME + codes[n - 1 :]
            if not len(rolling):
                break
            inside = left[: len(rolling)] >= n
            keys.append((rolling * _SPREAD + np.uint64(n))[inside])
            rows.append(owner[: len(rolling)][inside])
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return np.concatenate(rows), np.concatenate(keys)


class KeyIndex:
    """A hash table from 64-bit keys to their positions in a key array, at most half full.

    Each slot is one 64-bit word: the key's position in its low bits and a check of the key
    (another hash's top bits) above, so a look-up reads one word per probe. A key that is not
    in the table is taken for one that is only if its check bits match one on its probe path:
    about once in 10^12 look-ups for a vocabulary of a million keys, and then one n-gram's
    weight counts for another's.
    """

    _CHECK = np.uint64(0xC2B2AE3D27D4EB4F)

    def __init__(self, keys: np.ndarray) -> None:
        bits = max(int(np.ceil(np.log2(2 * len(keys) + 1))), 4)
        # Positions take the low bits; all ones there marks an empty slot.
        self._position_bits = np.uint64(max(int(np.ceil(np.log2(len(keys) + 2))), 1))
        self._empty = np.uint64((1 << int(self._position_bits)) - 1)
        self._shift = np.uint64(64 - bits)
        self._mask = np.int64((1 << bits) - 1)
        self._slots = np.full(1 << bits, np.iinfo(np.uint64).max, dtype=np.uint64)
        self._longest_probe = 0
        entries = (self._check(keys) << self._position_bits) | np.arange(len(keys), dtype=np.uint64)
        waiting = np.arange(len(keys), dtype=np.int64)
        slots = self._home(keys)
        while waiting.size:
            # Every waiting key takes its slot if free (the first of several rivals wins);
            # the others move one slot on (linear probing).
            free = (self._slots[slots] & self._empty) == self._empty
            _, first = np.unique(slots[free], return_index=True)
            placed = np.flatnonzero(free)[first]
            self._slots[slots[placed]] = entries[waiting[placed]]
            left = np.ones(waiting.size, dtype=bool)
            left[placed] = False
            waiting, slots = waiting[left], (slots[left] + 1) & self._mask
            self._longest_probe += 1

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> self._shift).astype(np.int64)

    def _check(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (keys * self._CHECK) >> self._position_bits

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The position of each key, or -1 for keys not in the table."""
        slots = self._home(keys)
        checks = self._check(keys)
        # Most keys end at their home slot: that probe runs on whole arrays, without the
        # index bookkeeping of the later ones.
        words = self._slots[slots]
        positions = words & self._empty
        occupied = positions != self._empty
        hit = occupied & ((words >> self._position_bits) == checks)
        found = np.where(hit, positions.view(np.int64), -1)
        todo = np.flatnonzero(occupied & ~hit)
        slots, checks = (slots[todo] + 1) & self._mask, checks[todo]
        for _ in range(self._longest_probe - 1):
            if not todo.size:
                break
            words = self._slots[slots]
            positions = words & self._empty
            occupied = positions != self._empty
            hit = occupied & ((words >> self._position_bits) == checks)
            found[todo[hit]] = positions[hit].view(np.int64)
            # An empty slot ends the search; a slot holding another key sends it on.
            onward = occupied & ~hit
            todo, slots, checks = todo[onward], (slots[onward] + 1) & self._mask, checks[onward]
        return found


@dataclass
class NgramTfidf:
    """A fitted vocabulary of n-gram keys and their inverse document frequencies."""

    vocabulary: np.ndarray
    idf: np.ndarray
    longest: int = 4
    _index: KeyIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = KeyIndex(self.vocabulary)

    @classmethod
    def fit(cls, texts: list[str], *, longest: int = 4, min_df: int = 2) -> "NgramTfidf":
        """Learn the vocabulary (keys in at least `min_df` texts) and IDF from texts."""
        per_text = [np.unique(ngram_keys(text, longest)) for text in texts]
        keys, df = np.unique(np.concatenate(per_text), return_counts=True)
        kept = df >= min_df
        idf = np.log((1 + len(texts)) / (1 + df[kept])) + 1
        return cls(vocabulary=keys[kept], idf=idf.astype(np.float32), longest=longest)

    @property
    def size(self) -> int:
        """Number of features."""
        return len(self.vocabulary)

    def transform(self, texts: list[str]) -> csr_matrix:
        """One L2-normalised TF-IDF row per text."""
        rows, flat = batch_ngram_keys(texts, self.longest)
        columns = self._index.lookup(flat)
        known = columns >= 0
        # Rows come in order, so a stable sort (a merge of sorted runs) is the cheap one.
        cells = np.sort(rows[known] * self.size + columns[known], kind="stable")
        starts = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]]))
        counts = np.diff(np.append(starts, len(cells)))
        rows, columns = np.divmod(cells[starts], max(self.size, 1))
        # float32 like the model's weights: mixing dtypes would copy the weights every call.
        values = ((1 + np.log(counts)) * self.idf[columns]).astype(np.float32)
        norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=len(texts)))
        values /= np.where(norms > 0, norms, 1)[rows]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(texts)))])
        return csr_matrix((values, columns, indptr), shape=(len(texts), self.size))
