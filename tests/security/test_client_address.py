"""The client's address behind proxies: X-Forwarded-For is believed only from trusted proxies.

The attack: uvicorn believed X-Forwarded-For from any loopback peer, so 25 posts naming 25
addresses all got 201 although one address may post 20 items a minute. Its opposite: behind
a proxy that is not trusted every citizen shares the proxy's address, and one noisy citizen
would block everyone; with the proxy configured, citizens are told apart again.
"""

from pathlib import Path

import httpx
import pytest

from feedbackloop.devstack.processes import Stack
from tests.security.own_intake import own_intake

pytestmark = pytest.mark.integration

ITEM = {"title": "路灯不亮", "text": "幸福路和建设路路口的路灯坏了一周，晚上过马路很危险。"}
#: intake's default per-address limit (FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE).
PER_MINUTE = 20


def post_as(client: httpx.Client, forwarded_for: str) -> int:
    reply = client.post("/api/v1/feedback", json=ITEM, headers={"X-Forwarded-For": forwarded_for})
    assert reply.status_code in (201, 429), reply.text
    return reply.status_code


def test_a_forged_x_forwarded_for_does_not_get_past_the_per_address_limit(
    stack: Stack, tmp_path: Path
) -> None:
    with own_intake(stack, tmp_path) as url, httpx.Client(base_url=url, timeout=10) as client:
        codes = [post_as(client, f"203.0.113.{n}") for n in range(1, 26)]
        assert codes == [201] * PER_MINUTE + [429] * 5, codes
        limited = client.post("/api/v1/feedback", json=ITEM)
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert "频繁" in limited.json()["detail"] and int(limited.headers["Retry-After"]) > 0


def test_behind_a_trusted_proxy_citizens_are_told_apart_by_x_forwarded_for(
    stack: Stack, tmp_path: Path
) -> None:
    # The proxy's own address is a CIDR range here, as a container network's would be.
    trusted = {"FEEDBACKLOOP_TRUSTED_PROXIES": "127.0.0.0/8"}
    with (
        own_intake(stack, tmp_path, **trusted) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        # 25 citizens behind one proxy: none is limited by the others' posts.
        assert [post_as(client, f"198.51.100.{n}") for n in range(1, 26)] == [201] * 25
        # One citizen is still limited on their own address, whatever the proxy's is.
        codes = [post_as(client, "192.0.2.77") for _ in range(PER_MINUTE + 1)]
        assert codes == [201] * PER_MINUTE + [429]
        # A client cannot pick an address by prepending to the chain: the proxy appends the
        # address it saw, and the rightmost untrusted one is the client's.
        assert post_as(client, "198.51.100.200, 192.0.2.77") == 429
