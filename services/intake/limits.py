"""Abuse limits: per-source rate limits (the body size cap is `feedbackloop.web.limits`)."""

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimited(Exception):
    """Too many items from one source; `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """Sliding one-minute window per key (an IP, an openid, a phone), in this process.

    Each intake replica limits on its own; behind a load balancer the effective limit is the
    per-replica limit times the replicas a source is spread over, which is fine for abuse
    control and needs no shared store.
    """

    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str | None) -> None:
        """Count one item against every key given; raise RateLimited if any is over."""
        now = self._clock()
        with self._lock:
            if len(self._hits) > 100_000:
                self._forget_idle(now)
            waits = []
            for key in filter(None, keys):
                hits = self._hits.setdefault(key, deque())
                while hits and hits[0] <= now - 60:
                    hits.popleft()
                if len(hits) >= self._per_minute:
                    waits.append(int(hits[0] + 60 - now) + 1)
            if waits:
                raise RateLimited(max(waits))
            for key in filter(None, keys):
                self._hits[key].append(now)

    def record(self, key: str, count: int) -> None:
        """Count `count` more items against `key` without refusing (work already taken)."""
        now = self._clock()
        with self._lock:
            self._hits.setdefault(key, deque()).extend([now] * max(count, 0))

    def _forget_idle(self, now: float) -> None:
        idle = [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - 60]
        for key in idle:
            del self._hits[key]
