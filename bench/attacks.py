"""The attacks of issue 15 ("Trust"), performed against a real stack, with what each got.

Starts its own stack as the test fixtures do (tests/conftest.py): a Kafka broker and the five
services as `feedbackloop serve` processes on free loopback ports, under a temporary folder,
with the default limits (20 items a minute per address, 20 status lookups a minute per
address). Only two settings differ from `make up`, both to make the loop fast, not safer: the
callback survey goes out right after a resolve, and clocks are looked at every 0.2 s. A second
intake with its own store runs in safe mode (an EncodingAESKey set), for the downgrade attack;
the forged X-Forwarded-For attack is made on it too, so its 20-a-minute budget is not spent
on the other attacks' items.

Credentials are made as an administrator makes them: the stack's simulated call centre gets
its hotline token when the stack starts (`feedbackloop.devstack.credentials`), further
call-centre credentials and followup's credentials are written to the services' stores by the
functions behind `feedbackloop intake add-credential` and `feedbackloop followup
add-credential`. The router's operator token is the development one.

For each attack it records the HTTP status (or statuses), the wall time, and, where memory is
the point, the target's resident memory (VmRSS from /proc/<pid>/status) before, at its peak
(sampled every 20 ms) and after. It prints one JSON document, then the same as a Markdown
table.

    make deps   # once: the Kafka jars and the router's model (.var/models/router)
    nice -n 10 .venv/bin/python -m bench.attacks > /tmp/attacks.out
    nice -n 10 .venv/bin/python -m bench.attacks --only million_tiny_lines wechat_replay

Everything it starts listens on 127.0.0.1 and is stopped at the end. About 30 s of attacks
after about 30 s of start-up on 2 cores. Exit status 1 if any answer was not the expected one.
"""

import argparse
import base64
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import wechatpy
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from feedbackloop.devstack.config import REPO_ROOT, StackSettings
from feedbackloop.devstack.credentials import staff_headers
from feedbackloop.devstack.fleet import free_port
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import ServiceProcess, Stack
from feedbackloop.devstack.rawhttp import request
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics
from services.followup import auth
from services.intake import credentials as intake_credentials
from services.intake.config import DEV_WECHAT_TOKEN
from services.intake.database import create_store as intake_store
from services.intake.ticket_numbers import format_ticket_no

PARTITIONS = 3
#: The router's development operator token (FEEDBACKLOOP_ROUTER_OPERATOR_TOKEN's default).
OPERATOR = {"Authorization": "Bearer dev-operator-token"}
NDJSON = {"content-type": "application/x-ndjson"}
CALLS = "/api/v1/hotline/calls"
BATCH = "/api/v1/hotline/calls:batch"
WECHAT = "/api/v1/wechat"
ACCOUNT = "gh_12345hotline"
AES_APP_ID = "wx5ecurity0000bench"
AES_KEY = base64.b64encode(b"feedbackloop-attacks-aes-key-32b").decode()[:43]
TEXT = "幸福小区3栋2单元楼道的灯坏了一个星期，晚上老人上下楼很危险，请尽快修好。"
#: A made-up ticket number with a valid check digit, for routes that need one in the path.
NO_SUCH_TICKET = "2611229999990"


# --- what an attack got -----------------------------------------------------------------


@dataclass
class Outcome:
    """One attack: which door, what was sent, what was expected and what came back."""

    door: str
    attack: str
    expected: str
    status: str = ""
    seconds: float = 0.0
    memory: str = ""
    note: str = ""
    ok: bool = False
    figures: dict[str, Any] = field(default_factory=dict)


class Timer:
    """Wall time of a `with` block, in seconds."""

    def __enter__(self) -> "Timer":
        self.started, self.seconds = time.perf_counter(), 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A process's resident memory (or another Vm* line) from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for pid {pid}")


class Memory(threading.Thread):
    """Samples a process's VmRSS every 20 ms while a `with` block runs: before, peak, after.

    VmHWM (the kernel's high-water mark of RSS, which only grows) is read before and after
    too, so a spike shorter than the sampling interval still shows as HWM growth.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.before = self.peak = self.after = rss_kib(pid)
        self.hwm_before = self.hwm_after = rss_kib(pid, "VmHWM")

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))

    def __enter__(self) -> "Memory":
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.join()
        self.after = rss_kib(self.pid)
        self.peak = max(self.peak, self.after)
        self.hwm_after = rss_kib(self.pid, "VmHWM")

    def summary(self) -> str:
        mib = [round(value / 1024) for value in (self.before, self.peak, self.after)]
        hwm = round((self.hwm_after - self.hwm_before) / 1024)
        return (
            f"RSS {mib[0]} → peak {mib[1]} → {mib[2]} MiB (+{mib[1] - mib[0]} MiB; "
            f"VmHWM +{hwm} MiB)"
        )

    def figures(self) -> dict[str, list[int]]:
        return {
            "rss_kib_before_peak_after": [self.before, self.peak, self.after],
            "hwm_kib_before_after": [self.hwm_before, self.hwm_after],
        }


# --- HTTP over a raw socket, for what httpx will not send ------------------------------


def filler(mebibytes: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """`mebibytes` MiB of JSON-ish filler, generated as it is sent."""
    yield b'{"text": "'
    for _ in range(mebibytes * 1024 * 1024 // piece):
        yield b"x" * piece


# --- the stack -------------------------------------------------------------------------


@dataclass
class Lab:
    """The running stack, the safe-mode intake beside it, and credentials for the doors."""

    kafka: LocalKafka
    stack: Stack
    safe_intake: ServiceProcess
    operator: dict[str, str] = field(default_factory=dict)  # followup operator (Bearer)

    def url(self, service: str) -> str:
        return self.stack.services[service].url

    def port(self, service: str) -> int:
        return self.stack.services[service].port

    def pid(self, service: str) -> int:
        popen = self.stack.services[service].popen
        assert popen is not None
        return popen.pid

    @property
    def intake_db(self) -> str:
        return f"sqlite:///{self.stack.settings.state_dir.resolve() / 'intake.db'}"

    @property
    def followup_db(self) -> str:
        return f"sqlite:///{self.stack.settings.state_dir.resolve() / 'followup.db'}"

    def call_centre(self, name: str) -> dict[str, str]:
        """A new call-centre credential (as `feedbackloop intake add-credential` makes it)."""
        with intake_store(self.intake_db).begin() as session:
            token = intake_credentials.create_credential(
                session=session,
                kind=intake_credentials.Kind.HOTLINE,
                name=name,
                now=datetime.now(UTC),
            )
        return {"Authorization": f"Bearer {token}"}

    def staff(self, name: str, role: auth.Role, department: str | None = None) -> dict[str, str]:
        """A followup credential (as `feedbackloop followup add-credential` makes it)."""
        return staff_headers(
            database_url=self.followup_db, name=name, role=role.value, department=department
        )


@contextmanager
def lab(home: Path) -> Iterator[Lab]:
    """Kafka, the stack and a safe-mode intake on free loopback ports; all stopped on leaving."""
    settings = StackSettings(
        state_dir=home / "stack",
        kafka_port=free_port(),
        topic_partitions=PARTITIONS,
        intake_port=free_port(),
        router_port=free_port(),
        followup_port=free_port(),
        metrics_port=free_port(),
        signals_port=free_port(),
        router_model_dir=REPO_ROOT / ".var" / "models" / "router",
    )
    kafka = LocalKafka(
        home=home / "kafka",
        pom=settings.kafka_pom,
        port=settings.kafka_port,
        controller_port=free_port(),
    )
    kafka.start(timeout=120)
    stack = Stack(
        settings=settings,
        bootstrap=kafka.bootstrap,
        extra_env={
            # The loop in seconds: the survey right after a resolve, clocks looked at often.
            "FEEDBACKLOOP_FOLLOWUP_SLA_POLICIES": str(
                REPO_ROOT / "tests" / "integration" / "sla-survey-now.yaml"
            ),
            "FEEDBACKLOOP_FOLLOWUP_CLOCK_INTERVAL_SECONDS": "0.2",
            "FEEDBACKLOOP_LOG_LEVEL": "WARNING",
        },
    )
    safe = ServiceProcess("intake", free_port(), home / "safe-intake" / "intake.log")
    try:
        create_topics(kafka.bootstrap, list(CORE_TOPICS), partitions=PARTITIONS)
        stack.start(timeout=180)
        # A second intake of the same broker in safe mode, with a store of its own (as
        # tests/security/own_intake.py starts one); node 9 keeps its ticket numbers apart.
        env = stack.env()
        env.update(
            {
                "FEEDBACKLOOP_INTAKE_PORT": str(safe.port),
                "FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{home / 'safe-intake' / 'db'}",
                "FEEDBACKLOOP_INTAKE_NODE": "9",
                "FEEDBACKLOOP_INTAKE_READ_MODEL_ENABLED": "false",
                "FEEDBACKLOOP_INTAKE_WECHAT_ENCODING_AES_KEY": AES_KEY,
                "FEEDBACKLOOP_INTAKE_WECHAT_APP_ID": AES_APP_ID,
            }
        )
        safe.start(env)
        safe.wait_healthy(deadline=time.monotonic() + 60)
        running = Lab(kafka=kafka, stack=stack, safe_intake=safe)
        running.operator = running.staff("值班长李强", auth.Role.OPERATOR)
        yield running
    finally:
        safe.stop()
        stack.stop()
        kafka.stop()


# --- helpers the attacks share ---------------------------------------------------------


def wait_for(check: Callable[[], Any], *, timeout: float = 90, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def phone() -> str:
    """A fresh mobile number, so the per-phone limit never joins in."""
    return f"139{uuid.uuid4().int % 10**8:08d}"


def hotline_call(**fields: Any) -> dict[str, Any]:
    return {
        "call_id": f"attack-{uuid.uuid4()}",
        "caller_number": phone(),
        "started_at": "2026-11-22T09:00:00+08:00",
        "ended_at": "2026-11-22T09:03:00+08:00",
        "agent_id": "A0317",
        "turns": [{"speaker": "caller", "text": TEXT, "start_ms": 0, "end_ms": 6000}],
        **fields,
    }


def web_item(lab: Lab, text: str = TEXT, title: str = "楼道灯坏了") -> dict[str, Any]:
    body = {"title": title, "text": text, "contact_phone": phone(), "callback_consent": True}
    reply = httpx.post(f"{lab.url('intake')}/api/v1/feedback", json=body, timeout=10)
    reply.raise_for_status()
    return dict(reply.json())


def ticket_as_operator(lab: Lab, ticket_no: str) -> dict[str, Any] | None:
    """followup's ticket through the workbench (which the status-lookup limit does not count)."""
    url = f"{lab.url('followup')}/api/v1/workbench/tickets/{ticket_no}"
    reply = httpx.get(url, headers=lab.operator, timeout=10)
    return dict(reply.json()) if reply.status_code == 200 else None


def routed(lab: Lab, ticket_no: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        ticket = ticket_as_operator(lab, ticket_no)
        return ticket if ticket and ticket["state"] == "routed" else None

    return dict(wait_for(check, what=f"followup to open {ticket_no}"))


def act(lab: Lab, ticket_no: str, action: str, headers: dict[str, str], **body: Any) -> Any:
    url = f"{lab.url('followup')}/api/v1/workbench/tickets/{ticket_no}/{action}"
    return httpx.post(url, json=body or None, headers=headers, timeout=10)


def signed_query() -> dict[str, str]:
    """A fresh plaintext-mode WeChat query, signed with the development token."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signer = WeChatSigner()
    signer.add_data(DEV_WECHAT_TOKEN, timestamp, nonce)
    return {"signature": str(signer.signature), "timestamp": timestamp, "nonce": nonce}


def wechat_text(content: str) -> bytes:
    """A text message from a new citizen (new openid, new MsgId)."""
    openid, msg_id = f"oAtk{uuid.uuid4().hex[:20]}", uuid.uuid4().int % 10**18
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def codes(replies: Iterable[int]) -> str:
    """Status codes as runs: [201]*20 + [429]*5 -> '201×20, 429×5'."""
    runs: list[list[int]] = []
    for code in replies:
        if runs and runs[-1][0] == code:
            runs[-1][1] += 1
        else:
            runs.append([code, 1])
    return ", ".join(f"{code}×{count}" if count > 1 else str(code) for code, count in runs)


# --- the attacks, in the order of the issue --------------------------------------------


def hotline_without_credential(lab: Lab) -> list[Outcome]:
    """Must have 1: anyone posting urgent calls with implied consent."""
    url = lab.url("intake")
    results = []
    for label, headers in [
        ("no Authorization", {}),
        (
            "guessed `Bearer abcdef012345.guessed-secret`",
            {"Authorization": "Bearer abcdef012345.x"},
        ),
    ]:
        body = hotline_call(urgency_hint="urgent")
        with Timer() as single_time:
            single = httpx.post(f"{url}{CALLS}", json=body, headers=headers, timeout=10)
        with Timer() as batch_time:
            batch = httpx.post(
                f"{url}{BATCH}",
                content=json.dumps(body).encode(),
                headers={**NDJSON, **headers},
                timeout=10,
            )
        for door, reply, timer in (("calls", single, single_time), (":batch", batch, batch_time)):
            results.append(
                Outcome(
                    door=f"intake POST {CALLS if door == 'calls' else BATCH}",
                    attack=f"urgent call, {label}",
                    expected="401",
                    status=str(reply.status_code),
                    seconds=timer.seconds,
                    note=f"{reply.headers.get('content-type')}; "
                    f"WWW-Authenticate: {reply.headers.get('www-authenticate', '-')}",
                    ok=reply.status_code == 401,
                )
            )
    return results


def call_id_claimed_by_another_centre(lab: Lab) -> Outcome:
    """Must have 1: a rogue centre claims the real centre's next call_id."""
    url = lab.url("intake")
    real, rogue = lab.call_centre("区分中心话务系统"), lab.call_centre("冒名话务系统")
    future = f"20261122-{uuid.uuid4().hex[:8]}"
    with Timer() as timer:
        claimed = httpx.post(f"{url}{CALLS}", json=hotline_call(call_id=future), headers=rogue)
        taken = httpx.post(f"{url}{CALLS}", json=hotline_call(call_id=future), headers=real)
    distinct = taken.status_code == 201 and taken.json()["ticket_no"] != claimed.json().get(
        "ticket_no"
    )
    return Outcome(
        door=f"intake POST {CALLS}",
        attack="rogue credential posts the real centre's next call_id first",
        expected="real call still 201, its own ticket",
        status=f"rogue {claimed.status_code}, real {taken.status_code}",
        seconds=timer.seconds,
        note="distinct tickets" if distinct else "real call dropped as a duplicate",
        ok=distinct,
    )


def call_centre_flood(lab: Lab) -> Outcome:
    """Must have 1: per-credential rate limit (6,000 calls a minute)."""
    url, headers = lab.url("intake"), lab.call_centre("洪泛话务系统")
    with Timer() as timer:
        flood = httpx.post(
            f"{url}{BATCH}", content=b"{}\n" * 6000, headers={**NDJSON, **headers}, timeout=60
        )
        after = httpx.post(f"{url}{CALLS}", json=hotline_call(), headers=headers, timeout=10)
    return Outcome(
        door=f"intake POST {BATCH} then {CALLS}",
        attack="6,000 lines in a minute, then one more call, same credential",
        expected="200 (lines rejected), then 429",
        status=f"{flood.status_code}, then {after.status_code}",
        seconds=timer.seconds,
        note=f"Retry-After: {after.headers.get('retry-after', '-')}",
        ok=flood.status_code == 200 and after.status_code == 429,
    )


def million_tiny_lines(lab: Lab) -> Outcome:
    """Must have 2: 1 M lines of `1\\n` (2 MB) with a valid credential."""
    url = lab.url("intake")
    headers = {**NDJSON, **lab.call_centre("大批量话务系统")}
    body = b"1\n" * 1_000_000
    with Memory(lab.pid("intake")) as memory, Timer() as timer:
        reply = httpx.post(f"{url}{BATCH}", content=body, headers=headers, timeout=120)
    report = reply.json()
    return Outcome(
        door=f"intake POST {BATCH}",
        attack="1,000,000 lines of `1\\n` (2 MB), valid call-centre credential",
        expected="413/422 quickly, bounded RSS",
        status=str(reply.status_code),
        seconds=timer.seconds,
        memory=memory.summary(),
        note=f"answer {len(reply.content):,} bytes, {len(report.get('results', [])):,} results; "
        f"detail: {report.get('detail')}",
        ok=reply.status_code in (413, 422) and timer.seconds < 5,
        figures=memory.figures(),
    )


def sixteen_megabyte_line(lab: Lab) -> Outcome:
    """Must have 2: one line of 16 MiB after a valid one."""
    url = lab.url("intake")
    headers = {**NDJSON, **lab.call_centre("长行话务系统")}
    body = json.dumps(hotline_call()).encode() + b"\n" + b'{"call_id": "' + b"x" * (16 << 20)
    with Memory(lab.pid("intake")) as memory, Timer() as timer:
        reply = httpx.post(f"{url}{BATCH}", content=body, headers=headers, timeout=120)
    report = reply.json()
    return Outcome(
        door=f"intake POST {BATCH}",
        attack="a valid line, then one line of 16 MiB",
        expected="422 in linear time, bounded RSS",
        status=str(reply.status_code),
        seconds=timer.seconds,
        memory=memory.summary(),
        note=f"results: {[r['status'] for r in report.get('results', [])]}; "
        f"detail: {report.get('detail')}",
        ok=reply.status_code == 422 and timer.seconds < 3,
        figures=memory.figures(),
    )


def forged_forwarded_for(lab: Lab) -> Outcome:
    """Must have 4: 25 posts naming 25 different X-Forwarded-For addresses."""
    item = {"title": "路灯不亮", "text": "幸福路和建设路路口的路灯坏了一周，晚上过马路很危险。"}
    statuses = []
    with httpx.Client(base_url=lab.safe_intake.url, timeout=10) as client, Timer() as timer:
        for n in range(1, 26):
            reply = client.post(
                "/api/v1/feedback", json=item, headers={"X-Forwarded-For": f"203.0.113.{n}"}
            )
            statuses.append(reply.status_code)
    first = statuses.index(429) + 1 if 429 in statuses else None
    return Outcome(
        door="intake POST /api/v1/feedback",
        attack="25 posts, each with another X-Forwarded-For (no trusted proxy configured)",
        expected="429 from the 21st (limit 20 a minute per address)",
        status=codes(statuses),
        seconds=timer.seconds,
        note=f"first 429 at post {first}; the header is ignored without "
        "FEEDBACKLOOP_TRUSTED_PROXIES",
        ok=statuses == [201] * 20 + [429] * 5,
    )


def wechat_replay(lab: Lab) -> Outcome:
    """Must have 3: one captured plaintext signature, a second body."""
    url, captured = lab.url("intake"), signed_query()
    first = wechat_text("幸福小区3栋门口的路灯坏了一个月，晚上出行很不安全。")
    forged = wechat_text("建设路的下水道堵了，污水漫到人行道上。")
    with httpx.Client(base_url=url, timeout=5) as client:
        original = client.post(WECHAT, params=captured, content=first)
        retry = client.post(WECHAT, params=captured, content=first)
        with Timer() as timer:
            replayed = client.post(WECHAT, params=captured, content=forged)
    accepted = original.status_code == 200 and "已受理" in str(
        wechatpy.parse_message(original.text).content
    )
    return Outcome(
        door=f"intake POST {WECHAT} (plaintext mode)",
        attack="captured signature&timestamp&nonce reused with another body (openid, MsgId)",
        expected="original 200, WeChat's byte-identical retry 200, other body 403",
        status=f"{original.status_code}, retry {retry.status_code}, replay {replayed.status_code}",
        seconds=timer.seconds,
        note=f"retry answer identical: {retry.content == original.content}; "
        f"detail: {replayed.json().get('detail') if replayed.status_code == 403 else '-'}",
        ok=accepted and retry.status_code == 200 and replayed.status_code == 403,
    )


def wechat_downgrade(lab: Lab) -> Outcome:
    """Must have 3: with an EncodingAESKey set, a correctly signed plaintext push."""
    plain = wechat_text("光明街的垃圾三天没人清运了，味道很大。")
    with httpx.Client(base_url=lab.safe_intake.url, timeout=5) as client:
        with Timer() as timer:
            refused = client.post(WECHAT, params=signed_query(), content=plain)
        raw = client.post(WECHAT, params={**signed_query(), "encrypt_type": "raw"}, content=plain)
        # The same account's encrypted push, for contrast.
        query = signed_query()
        crypto = WeChatCrypto(DEV_WECHAT_TOKEN, AES_KEY, AES_APP_ID)
        inner = wechat_text("光明街的路面塌了一个坑。")
        envelope = xmltodict.parse(
            crypto.encrypt_message(inner, query["nonce"], query["timestamp"])
        )
        params = {**query, "encrypt_type": "aes", "msg_signature": envelope["xml"]["MsgSignature"]}
        outer = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{envelope['xml']['Encrypt']}]]></Encrypt></xml>"
        )
        encrypted = client.post(WECHAT, params=params, content=outer.encode())
    return Outcome(
        door=f"intake POST {WECHAT} (safe mode: AES key set)",
        attack="plaintext push signed with the token, no encrypt_type / encrypt_type=raw",
        expected="403 (and an encrypted push 200)",
        status=f"{refused.status_code}, raw {raw.status_code}; encrypted {encrypted.status_code}",
        seconds=timer.seconds,
        note=f"detail: {refused.json().get('detail') if refused.status_code == 403 else '-'}",
        ok=refused.status_code == raw.status_code == 403 and encrypted.status_code == 200,
    )


def hostile_authorization(lab: Lab) -> list[Outcome]:
    """Must have 6: `Authorization: Bearer \\xff` (and friends) on every service."""
    doors = [
        ("router", "GET", "/api/v1/triage", "401"),
        ("router", "GET", "/api/v1/hotspots", "401"),
        ("followup", "GET", "/api/v1/workbench/me", "401"),
        ("followup", "GET", "/api/v1/workbench/tickets", "401"),
        ("intake", "POST", CALLS, "401"),
        ("metrics", "GET", "/api/v1/rates", "not 5xx (no credential needed)"),
        ("metrics", "GET", "/metrics", "not 5xx (no credential needed)"),
    ]
    results = []
    for service, method, path, expected in doors:
        statuses, seconds = [], 0.0
        for value in (b"Bearer \xff", b"Bearer \xe5\x87\xad\xe8\xaf\x81", b"\xff", b"Bearer a.b"):
            reply = request(
                lab.port(service),
                method,
                path,
                headers=[(b"Authorization", value), (b"Content-Length", b"0")],
            )
            statuses.append(reply.status)
            seconds = max(seconds, reply.seconds)
        ok = all(s == 401 for s in statuses) if expected == "401" else max(statuses) < 500
        results.append(
            Outcome(
                door=f"{service} {method} {path}",
                attack="Authorization: `Bearer \\xff`, UTF-8 `Bearer 凭证`, `\\xff`, `Bearer a.b`",
                expected=expected,
                status=", ".join(map(str, statuses)),
                seconds=seconds,
                note="slowest of the four",
                ok=ok,
            )
        )
    return results


def status_lookup_by_number(lab: Lab) -> list[Outcome]:
    """Must have 5: the number alone shows state and unit only; walking a day is limited."""
    followup = lab.url("followup")
    title = "楼道灯坏了"
    accepted = web_item(lab, title=title)
    ticket_no, link = accepted["ticket_no"], accepted["status_url"]
    routed(lab, ticket_no)
    # Staff act on the ticket, so their names would be there to leak.
    operator = lab.staff("话务员王芳", auth.Role.OPERATOR)
    act(lab, ticket_no, "accept", operator)
    act(lab, ticket_no, "replies", operator, text="已联系物业，今天下午修理。")
    with Timer() as timer:
        bare = httpx.get(f"{followup}/api/v1/tickets/{ticket_no}", timeout=10)
    leaked = [word for word in (title, "王芳", "物业", TEXT[:8]) if word in bare.text]
    with_secret = httpx.get(link.replace("/t/", "/api/v1/tickets/"), timeout=10)
    results = [
        Outcome(
            door="followup GET /api/v1/tickets/{no}",
            attack="a ticket number alone (operator 王芳 has accepted and replied)",
            expected="200 with state and handling unit only",
            status=str(bare.status_code),
            seconds=timer.seconds,
            note=f"fields {sorted(bare.json())}; title/staff/reply in it: {leaked or 'none'}; "
            f"with the link's secret: {with_secret.status_code}, "
            f"title shown {with_secret.json().get('title') == title}",
            ok=bare.status_code == 200
            and not leaked
            and set(bare.json())
            <= {"ticket_no", "state", "state_label", "department_code", "department_name", "full"},
        )
    ]
    # Walk the day's numbers downwards from the real one (the sequence sits between the
    # node digit and the check digit), as an attacker reads the layout.
    day, node, sequence = ticket_no[:6], int(ticket_no[6]), int(ticket_no[7:-1])
    statuses = []
    with httpx.Client(base_url=followup, timeout=10) as client, Timer() as walk:
        for step in range(30):
            number = format_ticket_no(day=day, node=node, sequence=max(sequence - step, 1))
            statuses.append(client.get(f"/api/v1/tickets/{number}").status_code)
    first = statuses.index(429) + 1 if 429 in statuses else None
    results.append(
        Outcome(
            door="followup GET /api/v1/tickets/{no}",
            attack="walking 30 consecutive ticket numbers from one address",
            expected="429 once past 20 lookups a minute (two spent above)",
            status=codes(statuses),
            seconds=walk.seconds,
            note=f"first 429 at lookup {first} of the walk",
            ok=first is not None and first <= 21,
        )
    )
    return results


def oversized_bodies(lab: Lab) -> list[Outcome]:
    """Must have 6: body caps on followup and the router (and intake), declared or streamed."""
    json_type = (b"Content-Type", b"application/json")
    routes = [
        ("router", "POST", f"/api/v1/triage/{NO_SUCH_TICKET}/assign", OPERATOR),
        ("followup", "POST", f"/api/v1/workbench/tickets/{NO_SUCH_TICKET}/resolve", lab.operator),
        ("intake", "POST", "/api/v1/feedback", {}),
    ]
    results = []
    for service, method, path, credential in routes:
        auth_header = [(b"Authorization", v.encode()) for v in credential.values()]
        declared = request(
            lab.port(service),
            method,
            path,
            headers=[json_type, (b"Content-Length", str(1024**3).encode()), *auth_header],
            timeout=10,
        )
        with Memory(lab.pid(service)) as memory:
            streamed = request(
                lab.port(service),
                method,
                path,
                headers=[json_type, *auth_header],
                chunks=filler(64),
                chunked=True,
            )
        results.append(
            Outcome(
                door=f"{service} {method} {path}",
                attack="Content-Length 1 GiB never sent; then 64 MiB chunked",
                expected="413 at once, bounded RSS",
                status=f"declared {declared.status}, chunked {streamed.status}",
                seconds=max(declared.seconds, streamed.seconds),
                memory=memory.summary(),
                note=f"declared answered in {declared.seconds:.3f} s; chunked after "
                f"{streamed.sent / 1024:.0f} KiB sent",
                ok=declared.status == streamed.status == 413,
                figures=memory.figures(),
            )
        )
    return results


def concurrent_triage(lab: Lab) -> Outcome:
    """Must have 7: two operators assign one triaged item to two departments at once."""
    router = lab.url("router")
    ticket_no = web_item(lab, text="关于我们村的一些情况反映", title="情况反映")["ticket_no"]

    def waiting() -> bool:
        queue = httpx.get(f"{router}/api/v1/triage", headers=OPERATOR, timeout=5).json()
        return any(entry["ticket_no"] == ticket_no for entry in queue)

    wait_for(waiting, what="the item in the triage queue")
    gate = threading.Barrier(2)
    replies: dict[str, httpx.Response] = {}

    def assign(department: str, operator: str) -> None:
        gate.wait()
        replies[department] = httpx.post(
            f"{router}/api/v1/triage/{ticket_no}/assign",
            json={"department_code": department, "operator": operator},
            headers=OPERATOR,
            timeout=30,
        )

    threads = [
        threading.Thread(target=assign, args=args)
        for args in (("agriculture", "王芳"), ("civil", "李明"))
    ]
    with Timer() as timer:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    statuses = {dept: reply.status_code for dept, reply in replies.items()}
    loser = next((r for r in replies.values() if r.status_code == 409), None)
    return Outcome(
        door="router POST /api/v1/triage/{no}/assign",
        attack="two operators assign one item to agriculture and civil at the same moment",
        expected="one 200, one 409",
        status=", ".join(f"{dept} {code}" for dept, code in sorted(statuses.items())),
        seconds=timer.seconds,
        note=f"loser's detail: {loser.json().get('detail') if loser is not None else '-'}",
        ok=sorted(statuses.values()) == [200, 409],
    )


def pause_without_approval(lab: Lab) -> Outcome:
    """Must have 7: a department pauses its own clock."""
    ticket_no = web_item(
        lab,
        text="幸福小区3栋门口的井盖松动了，车一压就响，晚上有人差点踩空，请城管尽快处理。",
        title="井盖",
    )["ticket_no"]
    code = routed(lab, ticket_no)["department_code"]
    department = lab.staff(f"承办单位{code}", auth.Role.DEPARTMENT, code)
    act(lab, ticket_no, "accept", department)
    with Timer() as timer:
        asked = act(lab, ticket_no, "pause", department, reason="等待市民约定上门勘查时间")
    own = act(lab, ticket_no, "pause/decision", department, approve=True)
    clock = (ticket_as_operator(lab, ticket_no) or {}).get("sla_state")
    return Outcome(
        door="followup POST /api/v1/workbench/tickets/{no}/pause",
        attack="the department pauses its own clock, then approves its own request",
        expected="202 pending (clock runs on), own approval 403",
        status=f"pause {asked.status_code}, own approval {own.status_code}",
        seconds=timer.seconds,
        note=f"sla_state afterwards: {clock}",
        ok=asked.status_code == 202 and own.status_code == 403 and clock != "paused",
    )


def operator_survey(lab: Lab) -> Outcome:
    """Must have 7: an operator records the survey answer of a web ticket."""
    operator = lab.staff("回访员张敏", auth.Role.OPERATOR)
    answer = {"contacted": True, "solved": "solved", "satisfaction": "satisfied"}

    def resolved_and_invited(ticket_no: str) -> None:
        code = routed(lab, ticket_no)["department_code"]
        department = lab.staff(f"承办单位{code}", auth.Role.DEPARTMENT, code)
        act(lab, ticket_no, "accept", department)
        act(lab, ticket_no, "resolve", department, text="已更换井盖。")

        def invited() -> bool:
            ticket = ticket_as_operator(lab, ticket_no) or {"timeline": []}
            return "survey_invited" in [entry["kind"] for entry in ticket["timeline"]]

        wait_for(invited, what="the survey invitation")

    web = web_item(lab, text="建设路人行道的地砖翘起来了，老人容易绊倒。", title="地砖")[
        "ticket_no"
    ]
    resolved_and_invited(web)
    with Timer() as timer:
        refused = act(lab, web, "survey", operator, **answer)
    call = httpx.post(
        f"{lab.url('intake')}{CALLS}",
        json=hotline_call(),
        headers={"Authorization": f"Bearer {lab.stack.hotline_token}"},
        timeout=10,
    )
    phone_ticket = call.json()["ticket_no"]
    resolved_and_invited(phone_ticket)
    recorded = act(lab, phone_ticket, "survey", operator, **answer)
    return Outcome(
        door="followup POST /api/v1/workbench/tickets/{no}/survey",
        attack="an operator records the survey answer of a web ticket",
        expected="409 (a hotline callback's answer: 200)",
        status=f"web {refused.status_code}; hotline {recorded.status_code}",
        seconds=timer.seconds,
        note=f"detail: {refused.json().get('detail') if refused.status_code == 409 else '-'}",
        ok=refused.status_code == 409 and recorded.status_code == 200,
    )


def nothing_stuck(lab: Lab) -> Outcome:
    """Must have 8: what shows from outside. The rest needs faults injected inside."""
    with Timer() as timer:
        page = httpx.get(f"{lab.url('metrics')}/metrics", timeout=10)
        health = httpx.get(f"{lab.url('metrics')}/healthz", timeout=10)
    return Outcome(
        door="metrics GET /metrics, /healthz",
        attack="(observed after all of the above) is the reader live and the figures fresh?",
        expected="200 while reading; 503 on a dead reader (tests)",
        status=f"/metrics {page.status_code}, /healthz {health.status_code}",
        seconds=timer.seconds,
        note="the dead reader (503), the relay dead-lettering a refused row, followup "
        "dead-lettering a DataError, `dlq list|replay` and outbox pruning need faults made "
        "inside: tests/metrics/test_app.py::test_metrics_and_health_answer_503_once_the_loop_"
        "has_died and tests/security/test_nothing_stuck.py",
        ok=page.status_code == 200 and health.status_code == 200,
    )


ATTACKS: list[Callable[[Lab], Outcome | list[Outcome]]] = [
    hotline_without_credential,
    call_id_claimed_by_another_centre,
    call_centre_flood,
    million_tiny_lines,
    sixteen_megabyte_line,
    forged_forwarded_for,
    wechat_replay,
    wechat_downgrade,
    hostile_authorization,
    status_lookup_by_number,
    oversized_bodies,
    concurrent_triage,
    pause_without_approval,
    operator_survey,
    nothing_stuck,
]


# --- output --------------------------------------------------------------------------


def table(outcomes: list[Outcome]) -> str:
    """The outcomes as a Markdown table."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| door | attack | expected | observed | time | memory | |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        seconds = f"{o.seconds * 1000:.0f} ms" if o.seconds < 1 else f"{o.seconds:.2f} s"
        mark = "ok" if o.ok else "**UNEXPECTED**"
        lines.append(
            f"| `{cell(o.door)}` | {cell(o.attack)} | {cell(o.expected)} | {cell(o.status)} "
            f"| {seconds} | {cell(o.memory) or '—'} | {mark} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="names of attack functions to run (default: all)")
    args = parser.parse_args()
    chosen = [a for a in ATTACKS if not args.only or a.__name__ in args.only]
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="feedbackloop-attacks-") as home,
        lab(Path(home)) as running,
    ):
        for attack in chosen:
            try:
                got = attack(running)
            except Exception as exc:  # one attack's surprise must not hide the others
                got = Outcome(
                    door=attack.__name__,
                    attack="(did not complete)",
                    expected="",
                    note=f"{type(exc).__name__}: {exc}"[:300],
                )
            outcomes.extend(got if isinstance(got, list) else [got])
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "seconds": round(time.perf_counter() - started, 1),
        "attacks": [asdict(o) | {"seconds": round(o.seconds, 4)} for o in outcomes],
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print()
    print(table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def _commit() -> str:
    head = REPO_ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (REPO_ROOT / ".git" / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
