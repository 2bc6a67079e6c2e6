"""Near-duplicates among recent items.

A near-duplicate is an item whose text is nearly the same as one seen in the last 72 hours
(MinHash over character 3-grams, estimated Jaccard similarity >= 0.6): the same citizen
writing again, or neighbours copying one complaint. It is linked to the earlier ticket.

The state lives in the router process: items are partitioned by ticket, so with several
router replicas each sees a share of the window, and a restart empties it. Hotspots (bursts
about one place) are counted by the signals worker (`services.signals`), keyed by place.
"""

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np

from services.router.features import ngram_keys, trigram_keys

PERMUTATIONS = 64
SIGNATURE_CHARS = 300
_NOT_TEXT = re.compile(r"[^\u4e00-\u9fa5A-Za-z0-9]+")


_MIX = np.uint64(0x9E3779B97F4A7C15)
_random = np.random.default_rng(1)
# Multiply-shift hashing, h -> (a*h + b) mod 2**64, top 32 bits, one odd a per permutation:
# universal enough for MinHash, and without the division that a modular family costs.
_A = _random.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _random.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)


def _letters(text: str) -> str:
    # Copies and near-copies share their beginning; reading further only costs time.
    return _NOT_TEXT.sub("", text[:SIGNATURE_CHARS]) or text[:SIGNATURE_CHARS] or " "


def _minhash(keys: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        hashed = np.multiply.outer(keys * _MIX, _A)
    hashed += _B  # in place: the matrix is the biggest thing a batch allocates
    hashed >>= np.uint64(32)
    return hashed


def signature_of(text: str) -> np.ndarray:
    """The MinHash signature of a text's character 3-grams (letters and digits only)."""
    letters = _letters(text)
    # A text of fewer than three letters stands for itself by its longest n-gram.
    keys = ngram_keys(letters, 3)[-max(len(letters) - 2, 1) :]
    return _minhash(np.unique(keys)).min(axis=0)


#: Texts hashed together; bounds the (3-grams x permutations) matrix to about 10 MB.
_CHUNK = 64


def signatures_of(texts: list[str]) -> np.ndarray:
    """`signature_of` for many texts at once (one row each): a few numpy calls per chunk
    instead of per text, which is most of what a signature costs."""
    rows = np.empty((len(texts), PERMUTATIONS), dtype=np.uint64)
    for start in range(0, len(texts), _CHUNK):
        chunk = [_letters(text) for text in texts[start : start + _CHUNK]]
        if min(len(letters) for letters in chunk) < 3:
            rows[start : start + len(chunk)] = [signature_of(letters) for letters in chunk]
            continue
        codes = np.frombuffer("".join(chunk).encode("utf-32-le"), dtype=np.uint32)
        trigrams = trigram_keys(codes.astype(np.uint64))
        # Each text's 3-grams start at its offset and stop two letters before the next;
        # repeats need no removing, they cannot change a minimum.
        lengths = np.array([len(letters) for letters in chunk])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        own = np.ones(len(trigrams), dtype=bool)
        for gap in (1, 2):
            own[(offsets[1:] - gap)] = False
        starts = offsets - np.concatenate([[0], np.cumsum(np.full(len(chunk) - 1, 2))])
        rows[start : start + len(chunk)] = np.minimum.reduceat(
            _minhash(trigrams[own]), starts, axis=0
        )
    return rows


BANDS, ROWS = 16, 4
# Each band's four values folded into one integer (the band number in the low bits), so
# that a bucket key is a plain int; a rare fold collision only adds a candidate, which the
# whole-signature comparison then rejects.
_FOLD = _random.integers(0, 2**63, size=ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


class Fingerprint(NamedTuple):
    """What the detector needs of a text: its MinHash signature and the keys of its LSH
    bands (computed before the detector sees the item)."""

    signature: np.ndarray
    bands: tuple[int, ...]


def fingerprints_of(texts: list[str]) -> list[Fingerprint]:
    """The fingerprints of many texts, computed together."""
    signatures = signatures_of(texts)
    with np.errstate(over="ignore"):
        folded = (signatures.reshape(len(texts), BANDS, ROWS) * _FOLD).sum(axis=2)
        folded = (folded << np.uint64(4)) | np.arange(BANDS, dtype=np.uint64)
    return [
        Fingerprint(signature, tuple(bands))
        for signature, bands in zip(signatures, folded.tolist(), strict=True)
    ]


class SignatureIndex:
    """Locality-sensitive hashing over MinHash signatures: BANDS bands of ROWS values each.

    Two items become candidates when one band is equal: for 16 bands of 4, a pair at
    similarity 0.6 is found with probability 1 - (1 - 0.6**4)**16 = 0.89, at 0.7 with 0.99,
    at 0.3 with 0.12; candidates are then compared on the whole signature.
    """

    def __init__(self) -> None:
        # A bucket holds one item's key, or a set once a second item shares the band. Most
        # buckets hold one: a set for each would be 16 objects an item for the garbage
        # collector to walk, which made indexing ten times slower than the work itself.
        self._buckets: dict[int, str | set[str]] = {}
        self._fingerprints: dict[str, Fingerprint] = {}

    def most_similar(self, fingerprint: Fingerprint) -> tuple[str | None, float]:
        """The indexed item most similar to a fingerprint, and the estimated similarity."""
        candidates: set[str] = set()
        for band in fingerprint.bands:
            bucket = self._buckets.get(band)
            if bucket is None:
                continue
            if isinstance(bucket, str):
                candidates.add(bucket)
            else:
                candidates |= bucket
        best, similarity = None, 0
        for other in candidates:
            estimate = int(
                np.count_nonzero(self._fingerprints[other].signature == fingerprint.signature)
            )
            if estimate > similarity:
                best, similarity = other, estimate
        return best, similarity / PERMUTATIONS

    def insert(self, key: str, fingerprint: Fingerprint) -> None:
        """Index an item's fingerprint."""
        self._fingerprints[key] = fingerprint
        buckets = self._buckets
        for band in fingerprint.bands:
            bucket = buckets.get(band)
            if bucket is None:
                buckets[band] = key
            elif isinstance(bucket, str):
                if bucket != key:
                    buckets[band] = {bucket, key}
            else:
                bucket.add(key)

    def remove(self, key: str) -> None:
        """Forget an item."""
        buckets = self._buckets
        for band in self._fingerprints.pop(key).bands:
            bucket = buckets.get(band)
            if bucket is None:
                continue
            if isinstance(bucket, str):
                if bucket == key:
                    del buckets[band]
                continue
            bucket.discard(key)
            if len(bucket) == 1:
                (buckets[band],) = bucket
            elif not bucket:
                del buckets[band]


@dataclass(frozen=True)
class Observation:
    """What the detector made of one item."""

    duplicate_of: str | None = None
    similarity: float = 0.0


@dataclass
class Detector:
    """Sliding-window near-duplicate detection."""

    duplicate_window: timedelta = timedelta(hours=72)
    duplicate_similarity: float = 0.6
    _index: SignatureIndex = field(default_factory=SignatureIndex, init=False)
    _numbers: dict[str, str] = field(default_factory=dict, init=False)
    _arrivals: deque[tuple[datetime, str]] = field(default_factory=deque, init=False)
    _seen: dict[str, Observation] = field(default_factory=dict, init=False)

    def observe(
        self,
        *,
        ticket_id: str,
        ticket_no: str,
        text: str,
        at: datetime,
        fingerprint: Fingerprint | None = None,
    ) -> Observation:
        """Look at one item (a redelivered one gets its first answer again).

        `fingerprint` is the text's, if the caller computed a batch's at once
        (`fingerprints_of`).
        """
        if ticket_id in self._seen:
            return self._seen[ticket_id]
        self._expire(at)
        if fingerprint is None:
            (fingerprint,) = fingerprints_of([text])
        duplicate_of, similarity = None, 0.0
        other, estimate = self._index.most_similar(fingerprint)
        if other is not None and estimate >= self.duplicate_similarity:
            duplicate_of, similarity = self._numbers[other], estimate
        self._index.insert(ticket_id, fingerprint)
        self._numbers[ticket_id] = ticket_no
        self._arrivals.append((at, ticket_id))
        observation = Observation(duplicate_of, round(similarity, 3))
        self._seen[ticket_id] = observation
        return observation

    def _expire(self, now: datetime) -> None:
        while self._arrivals and self._arrivals[0][0] <= now - self.duplicate_window:
            _, ticket_id = self._arrivals.popleft()
            self._index.remove(ticket_id)
            del self._numbers[ticket_id]
            self._seen.pop(ticket_id, None)
