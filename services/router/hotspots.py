"""Near-duplicates and hotspots among recent items.

- A near-duplicate is an item whose text is nearly the same as one seen in the last 72 hours
  (MinHash over character 3-grams, estimated Jaccard similarity >= 0.6): the same citizen
  writing again, or neighbours copying one complaint. It is linked to the earlier ticket.
- A hotspot is a burst of items about one place: at least 5 items of the same category naming
  the same place (a residential compound, road, village, school, ...) within 24 hours. It
  fires once per burst, so operators get one alert, not one per item.

The state lives in the router process. Items are partitioned by ticket, so with several
router replicas each sees a share of a burst; the detector is meant for one replica (the
issue on scale-out says how to key it by place instead).
"""

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np

from services.router.features import ngram_keys, trigram_keys

PERMUTATIONS = 64
SIGNATURE_CHARS = 300
# Specific places only: a district ("A3区") alone is too broad to make a burst.
_SUFFIXES = (
    "小区|花园|花苑|家园|公寓|大厦|广场|公园|社区|村|镇|"
    "街道|大道|路|街|学校|中学|小学|幼儿园|医院|市场"
)
_NAME_CHARS = r"[\u4e00-\u9fa5A-Za-z0-9]"
#: A place: 2-12 letters, as few as will do, then a suffix. `place_of` finds the same
#: matches faster; this is their definition (and the reference in the tests).
PLACE = re.compile(rf"({_NAME_CHARS}{{2,12}}?(?:{_SUFFIXES}))")
_NOT_TEXT = re.compile(r"[^\u4e00-\u9fa5A-Za-z0-9]+")
#: Every position where a suffix starts (overlapping), with the first one listed there.
_SUFFIX_AT = re.compile(rf"(?=({_SUFFIXES}))")


# Characters that end a name when reading backwards from the place suffix ("我们来自农村"
# is not a village called 我们来自农).
_BREAK = re.compile(
    r"[的是在了我们你他她要必须去和与及对把被从向于其有关今特别包括来自位住这那因为受]"
)
_SUFFIX = re.compile(rf"(?:{_SUFFIXES})$")


def place_of(text: str) -> str | None:
    """The first specific place an item names, if any (e.g. 'A3区幸福小区')."""
    for found in _place_matches(text):
        suffix = _SUFFIX.search(found)
        assert suffix is not None
        name = _BREAK.split(found[: suffix.start()])[-1]
        if len(name) >= 2:
            return name + suffix.group(0)
    return None


def _is_name_char(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fa5" or (char.isascii() and char.isalnum())


def _place_matches(text: str) -> Iterator[str]:
    """What `PLACE.finditer` matches, found from the suffixes instead of from every position
    (where the lazy repeat tries 21 suffixes after each of up to 12 letters).

    The leftmost match ends at the first suffix, at q, that has at least two letters right
    before it, not counting what an earlier match took; it starts as far back as the
    letters, 12 of them and that earlier match allow.
    """
    taken = 0
    for at in _SUFFIX_AT.finditer(text):
        q, suffix = at.start(), at.group(1)
        if q < taken:
            continue
        start, limit = q, max(q - 12, taken)
        while start > limit and _is_name_char(text[start - 1]):
            start -= 1
        if q - start < 2:
            continue
        taken = q + len(suffix)
        yield text[start:taken]


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
    """What the detector needs of a text: its MinHash signature, the keys of its LSH bands
    and the place it names (all of it computed before the detector sees the item)."""

    signature: np.ndarray
    bands: tuple[int, ...]
    place: str | None


def fingerprints_of(texts: list[str]) -> list[Fingerprint]:
    """The fingerprints of many texts, computed together."""
    signatures = signatures_of(texts)
    with np.errstate(over="ignore"):
        folded = (signatures.reshape(len(texts), BANDS, ROWS) * _FOLD).sum(axis=2)
        folded = (folded << np.uint64(4)) | np.arange(BANDS, dtype=np.uint64)
    return [
        Fingerprint(signature, tuple(bands), place_of(text))
        for signature, bands, text in zip(signatures, folded.tolist(), texts, strict=True)
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
class Hotspot:
    """A burst of items about one place."""

    place: str
    category: str
    ticket_nos: tuple[str, ...]
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class Observation:
    """What the detector made of one item."""

    duplicate_of: str | None = None
    similarity: float = 0.0
    hotspot: Hotspot | None = None


@dataclass
class Detector:
    """Sliding-window near-duplicate and hotspot detection."""

    duplicate_window: timedelta = timedelta(hours=72)
    duplicate_similarity: float = 0.6
    hotspot_window: timedelta = timedelta(hours=24)
    hotspot_items: int = 5
    _index: SignatureIndex = field(default_factory=SignatureIndex, init=False)
    _numbers: dict[str, str] = field(default_factory=dict, init=False)
    _arrivals: deque[tuple[datetime, str]] = field(default_factory=deque, init=False)
    _seen: dict[str, Observation] = field(default_factory=dict, init=False)
    _bursts: dict[tuple[str, str], deque[tuple[datetime, str]]] = field(
        default_factory=dict, init=False
    )
    _fired: dict[tuple[str, str], datetime] = field(default_factory=dict, init=False)
    _swept_at: datetime | None = field(default=None, init=False)

    def observe(
        self,
        *,
        ticket_id: str,
        ticket_no: str,
        text: str,
        category: str | None,
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
        place = fingerprint.place
        hotspot = self._count(place, category, ticket_no, at) if place and category else None
        observation = Observation(duplicate_of, round(similarity, 3), hotspot)
        self._seen[ticket_id] = observation
        return observation

    def _count(self, place: str, category: str, ticket_no: str, at: datetime) -> Hotspot | None:
        key = (place, category)
        burst = self._bursts.setdefault(key, deque())
        burst.append((at, ticket_no))
        while burst and burst[0][0] <= at - self.hotspot_window:
            burst.popleft()
        fired = self._fired.get(key)
        if len(burst) < self.hotspot_items or (fired and fired > at - self.hotspot_window):
            return None
        self._fired[key] = at
        return Hotspot(place, category, tuple(n for _, n in burst), burst[0][0], at)

    def _expire(self, now: datetime) -> None:
        while self._arrivals and self._arrivals[0][0] <= now - self.duplicate_window:
            _, ticket_id = self._arrivals.popleft()
            self._index.remove(ticket_id)
            del self._numbers[ticket_id]
            self._seen.pop(ticket_id, None)
        # Forgetting quiet places walks every place; once an hour of item time is enough.
        if self._swept_at is not None and now - self._swept_at < timedelta(hours=1):
            return
        self._swept_at = now
        for key in [
            k
            for k, burst in self._bursts.items()
            if not burst or burst[-1][0] <= now - self.hotspot_window
        ]:
            del self._bursts[key]
