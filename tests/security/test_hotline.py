"""Attacks on the hotline doors of the running stack (issue 15, must-haves 1 and 2).

Each test is an attack that worked against the stack before call-centre credentials and
bounded batches: anyone could post calls (urgent, with implied callback consent), claim
another centre's call_ids, flood without limit, and one batch of a million tiny lines took
seconds and most of a gigabyte of intake's memory.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from feedbackloop.devstack.processes import Stack
from tests import factories
from tests.integration.conftest import call_centre_token, wait_for
from tests.integration.test_wechat_progress import push, reply_text

pytestmark = pytest.mark.integration

CALLS = "/api/v1/hotline/calls"
BATCH = "/api/v1/hotline/calls:batch"
NDJSON = {"content-type": "application/x-ndjson"}


def intake_db(stack: Stack) -> str:
    return f"sqlite:///{stack.settings.state_dir.resolve() / 'intake.db'}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(call_id: str | None = None, **fields: Any) -> dict[str, Any]:
    said = "我家在幸福小区3栋，楼道的灯坏了一个星期了，晚上上下楼很危险。"
    return {
        "call_id": call_id or f"sec-{uuid.uuid4()}",
        "caller_number": factories.fresh_phone(),
        "started_at": "2026-11-22T09:00:00+08:00",
        "ended_at": "2026-11-22T09:03:00+08:00",
        "agent_id": "A0317",
        "turns": [{"speaker": "caller", "text": said, "start_ms": 0, "end_ms": 6000}],
        **fields,
    }


def rss_kib(stack: Stack) -> int:
    """Intake's resident memory, from /proc."""
    popen = stack.services["intake"].popen
    assert popen is not None
    for line in Path(f"/proc/{popen.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class PeakRss(threading.Thread):
    """Samples intake's resident memory until stopped; `peak` is the highest seen (KiB)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack, self.peak, self.done = stack, rss_kib(stack), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.stack))

    def __enter__(self) -> "PeakRss":
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.join()


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FEEDBACKLOOP_INTAKE_DATABASE_URL=intake_db(stack))
    return subprocess.run(
        [sys.executable, "-m", "feedbackloop", "intake", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"Bearer",
        b"Bearer \xff",
        b"Bearer not-a-token",
        b"Bearer abcdef012345.guessed-secret-1",
    ],
)
def test_a_stranger_cannot_post_urgent_calls_with_implied_consent(
    stack: Stack, authorization: bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    url = stack.services["intake"].url
    body = call(urgency_hint="urgent")
    single = httpx.post(f"{url}{CALLS}", json=body, headers=headers, timeout=10)
    batch = httpx.post(
        f"{url}{BATCH}", content=json.dumps(body).encode(), headers={**NDJSON, **headers}
    )
    for reply in (single, batch):
        assert reply.status_code == 401, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.headers["www-authenticate"].startswith("Bearer ")
        assert "话务系统凭证" in reply.json()["detail"]


def test_a_credential_revoked_with_the_cli_is_refused_at_once(stack: Stack) -> None:
    added = cli(stack, "add-credential", "--name", "A3区分中心话务系统")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    url = stack.services["intake"].url
    assert httpx.post(f"{url}{CALLS}", json=call(), headers=bearer(token)).status_code == 201
    listed = cli(stack, "list-credentials")
    credential_id, secret = token.split(".")
    assert credential_id in listed.stdout and secret not in listed.stdout + listed.stderr
    assert cli(stack, "revoke-credential", credential_id).returncode == 0
    refused = httpx.post(f"{url}{CALLS}", json=call(), headers=bearer(token))
    assert refused.status_code == 401


def test_one_call_centre_cannot_claim_anothers_future_call_ids(stack: Stack) -> None:
    url = stack.services["intake"].url
    real, rogue = call_centre_token(intake_db(stack)), call_centre_token(intake_db(stack))
    future = f"20261122-{uuid.uuid4().hex[:8]}"  # the real centre's next call
    claimed = httpx.post(f"{url}{CALLS}", json=call(future), headers=bearer(rogue))
    assert claimed.status_code == 201
    taken = httpx.post(f"{url}{CALLS}", json=call(future), headers=bearer(real))
    assert taken.status_code == 201, "the real call was dropped as a duplicate"
    assert taken.json()["ticket_no"] != claimed.json()["ticket_no"]
    retried = httpx.post(f"{url}{CALLS}", json=call(future), headers=bearer(real))
    assert (retried.status_code, retried.json()["ticket_no"]) == (200, taken.json()["ticket_no"])


def test_a_call_centre_flooding_past_its_limit_gets_429(stack: Stack) -> None:
    url = stack.services["intake"].url
    token = call_centre_token(intake_db(stack))
    # 6000 calls a minute by default: a batch of lines intake refuses still counts.
    flood = httpx.post(
        f"{url}{BATCH}", content=b"{}\n" * 6000, headers={**NDJSON, **bearer(token)}, timeout=60
    )
    assert flood.status_code == 200 and flood.json()["rejected"] == 6000
    refused = httpx.post(f"{url}{CALLS}", json=call(), headers=bearer(token), timeout=10)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert "每分钟最多提交 6000 个通话" in refused.json()["detail"]


def test_a_million_tiny_lines_are_refused_quickly_in_bounded_memory(stack: Stack) -> None:
    url = stack.services["intake"].url
    headers = {**NDJSON, **bearer(call_centre_token(intake_db(stack)))}
    before = rss_kib(stack)
    with PeakRss(stack) as memory:
        started = time.perf_counter()
        reply = httpx.post(f"{url}{BATCH}", content=b"1\n" * 1_000_000, headers=headers, timeout=60)
        seconds = time.perf_counter() - started
    grown = (memory.peak - before) / 1024
    size = len(reply.content)
    figures = f"{seconds:.2f} s, {size} bytes, RSS {before / 1024:.0f} MB, peak +{grown:.0f} MB"
    print(f"\n1 M lines: {reply.status_code} in {figures}")
    assert reply.status_code == 413
    assert reply.headers["content-type"] == "application/problem+json"
    report = reply.json()
    assert "每批最多 10000 行" in report["detail"]
    assert len(report["results"]) == report["rejected"] == 10_000
    assert seconds < 5
    assert grown < 150, f"intake grew by {grown:.0f} MB"


def test_a_line_of_sixteen_megabytes_is_refused_422_in_linear_time(stack: Stack) -> None:
    url = stack.services["intake"].url
    started = time.perf_counter()
    body = json.dumps(call()).encode() + b"\n" + b'{"call_id": "' + b"x" * (16 << 20)
    reply = httpx.post(
        f"{url}{BATCH}",
        content=body,
        headers={**NDJSON, **bearer(call_centre_token(intake_db(stack)))},
        timeout=60,
    )
    seconds = time.perf_counter() - started
    print(f"\n16 MB line: {reply.status_code} in {seconds:.2f} s")
    assert reply.status_code == 422, reply.text[:300]
    report = reply.json()
    assert "第 2 行超过 64 KB" in report["detail"]
    assert [r["status"] for r in report["results"]] == ["accepted"]
    assert seconds < 3


def test_wechat_replies_stay_fast_while_a_maximal_batch_is_taken(stack: Stack) -> None:
    url = stack.services["intake"].url
    token = call_centre_token(intake_db(stack))
    lines = [json.dumps(call(f"max-{uuid.uuid4()}"), ensure_ascii=False) for _ in range(10_000)]
    outcome: dict[str, Any] = {}

    def post_batch() -> None:
        started = time.perf_counter()
        reply = httpx.post(
            f"{url}{BATCH}",
            content="\n".join(lines).encode(),
            headers={**NDJSON, **bearer(token)},
            timeout=300,
        )
        outcome.update(reply=reply, seconds=time.perf_counter() - started)

    batch = threading.Thread(target=post_batch)
    batch.start()
    latencies = []
    while batch.is_alive() or len(latencies) < 3:
        openid = f"oSec{uuid.uuid4().hex[:20]}"
        started = time.perf_counter()
        reply = push(
            url,
            openid=openid,
            content=f"幸福小区{len(latencies)}栋门口的路灯坏了，晚上很黑。",
            msg_id=uuid.uuid4().int % 10**18,
        )
        latencies.append(time.perf_counter() - started)
        assert "工单号" in reply_text(reply, openid)
        batch.join(timeout=0.2)  # a message every so often, as citizens send them
    batch.join()
    report = outcome["reply"].json()
    latencies.sort()
    print(
        f"\nmaximal batch: {outcome['reply'].status_code}, {report.get('accepted')} accepted in "
        f"{outcome['seconds']:.1f} s; {len(latencies)} WeChat replies meanwhile, max "
        f"{latencies[-1] * 1000:.0f} ms, median {latencies[len(latencies) // 2] * 1000:.0f} ms"
    )
    assert outcome["reply"].status_code == 200
    assert report["accepted"] == 10_000
    assert latencies[-1] < 2.0
    # followup opens the batch's tickets after the answer; waiting for the last ones here keeps
    # that backlog out of later tests' deadlines (and shows the accepted calls arrive).
    followup = stack.services["followup"].url
    last = [result["ticket_no"] for result in report["results"][-20:]]
    wait_for(
        lambda: all(
            httpx.get(f"{followup}/api/v1/tickets/{no}", timeout=10).status_code == 200
            for no in last
        ),
        timeout=600,
        what="followup to open the batch's last tickets",
    )


def test_an_open311_key_from_the_cli_is_limited_per_key(stack: Stack) -> None:
    added = cli(stack, "add-credential", "--name", "市民随手拍", "--kind", "open311")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    url = f"{stack.services['intake'].url}/open311/v2/requests.json"
    with httpx.Client(timeout=10) as client:
        # 600 requests a minute per key by default; refused ones (no description) count too.
        answers = [client.post(url, data={"api_key": key}).status_code for _ in range(600)]
        assert set(answers) == {400}, "the key was not honoured"
        refused = client.post(url, data={"api_key": key})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "请" in refused.json()[0]["description"]
