"""The per-key sliding-window limiter followup uses for lookups."""

import pytest

from feedbackloop.web.rates import RateLimited, RateLimiter


def test_a_key_over_its_limit_waits_until_its_oldest_hit_is_a_minute_old() -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    for offset in (0.0, 10.0, 20.0):
        now[0] = 1000.0 + offset
        limiter.check("ip:192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        limiter.check("ip:192.0.2.1")
    assert refused.value.retry_after == 41  # the first hit leaves the window at 1060
    limiter.check("ip:192.0.2.2")  # other keys are not held back
    now[0] = 1060.5
    limiter.check("ip:192.0.2.1")  # a refused hit was not counted
    with pytest.raises(RateLimited):
        limiter.check("ip:192.0.2.1")
