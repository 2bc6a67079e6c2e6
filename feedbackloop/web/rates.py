"""Per-key rate limits (sliding one-minute window), for services other than intake.

Intake has its own (`services.intake.limits`, counting items); followup limits status
lookups per client address and caller verifications per agent with this one.
"""

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimited(Exception):
    """Too many requests for one key; `retry_after` is in whole seconds (at least 1)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """At most `per_minute` hits per key in any 60 seconds, in this process.

    Replicas limit on their own: behind a load balancer the effective limit is this times
    the replicas a client is spread over, which still stops walking a day's numbers.
    """

    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one hit against `key`; RateLimited (not counted) if it is over its limit."""
        now = self._clock()
        with self._lock:
            if len(self._hits) > 100_000:
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self._per_minute:
                raise RateLimited(max(int(hits[0] + 60 - now) + 1, 1))
            hits.append(now)

    def _forget_idle(self, now: float) -> None:
        idle = [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - 60]
        for key in idle:
            del self._hits[key]
