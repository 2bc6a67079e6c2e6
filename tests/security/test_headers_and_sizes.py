"""No 5xx from headers or sizes, against the running stack (issue 15, must have 6).

Hostile Authorization headers are sent as raw bytes, as uvicorn delivers them to the app;
oversized bodies are sent with a Content-Length that is never followed by the body, and
chunked, so a cap that waited for the body or trusted the header alone would show."""

import re
from collections.abc import Iterator

import httpx
import pytest

from feedbackloop.devstack.processes import Stack
from feedbackloop.devstack.rawhttp import Reply, request

pytestmark = pytest.mark.integration

CHINESE = re.compile(r"[\u4e00-\u9fff]")
JSON = (b"Content-Type", b"application/json")
FORM = (b"Content-Type", b"application/x-www-form-urlencoded")

#: Reach the app (uvicorn passes any byte but controls through) and must get a 401.
HOSTILE_AUTHORIZATION = [
    b"Bearer \xff",
    b"Bearer \xff\xfe\x80",
    b"Bearer \xe5\x87\xad\xe8\xaf\x81",  # UTF-8 "凭证"
    b"Bearer dev-operator-token\xff",
    b"\xff",
    b"Bearer",
    b"Bearer ",
    b"Bearer    ",
    b"Bearer \tdev-operator-token",
    b"Basic ZGV2OmRldi1vcGVyYXRvci10b2tlbg==",
    b"Token dev-operator-token",
    b"Bearer dev-operator-token extra",
    b"Bearer a.b",
    b"Bearer " + b"A" * 200_000,
    b"Bearer " + b"0123456789ab." + b"\xff" * 40,
]
#: Control characters: uvicorn's parser refuses the request (400) before any app sees it.
CONTROL_AUTHORIZATION = [b"Bearer \x00", b"Bearer a\x01b", b"Bearer \x1f", b"Bearer \x7f"]


def port(stack: Stack, service: str) -> int:
    return int(getattr(stack.settings, f"{service}_port"))


def assert_problem(reply: Reply, status: int) -> None:
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("application/problem+json")
    detail = str(reply.json()["detail"])
    assert CHINESE.search(detail), detail


def peak_memory_kib(stack: Stack, service: str) -> int:
    """The service process's peak resident memory (VmHWM), which only grows."""
    popen = stack.services[service].popen
    assert popen is not None
    with open(f"/proc/{popen.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


# --- Authorization ---------------------------------------------------------------------

PROTECTED = [
    ("router", "GET", "/api/v1/triage"),
    ("router", "GET", "/api/v1/hotspots"),
    ("followup", "GET", "/api/v1/workbench/me"),
    ("followup", "GET", "/api/v1/workbench/tickets"),
]


@pytest.mark.parametrize(("service", "method", "path"), PROTECTED)
def test_a_malformed_or_non_ascii_authorization_is_a_401(
    stack: Stack, service: str, method: str, path: str
) -> None:
    for value in HOSTILE_AUTHORIZATION:
        reply = request(port(stack, service), method, path, headers=[(b"Authorization", value)])
        assert_problem(reply, 401)
        assert reply.headers.get("www-authenticate", "").startswith("Bearer"), value[:30]


@pytest.mark.parametrize(("service", "method", "path"), PROTECTED)
def test_control_characters_in_authorization_never_reach_a_5xx(
    stack: Stack, service: str, method: str, path: str
) -> None:
    for value in CONTROL_AUTHORIZATION:
        reply = request(port(stack, service), method, path, headers=[(b"Authorization", value)])
        assert reply.status in (400, 401), (value, reply.status)


def test_a_router_assignment_with_a_hostile_token_is_a_401(stack: Stack) -> None:
    reply = request(
        port(stack, "router"),
        "POST",
        "/api/v1/triage/2611229999990/assign",
        headers=[JSON, (b"Authorization", b"Bearer \xff"), (b"Content-Length", b"2")],
        chunks=[b"{}"],
    )
    assert_problem(reply, 401)


# --- body caps -------------------------------------------------------------------------

BODY_ROUTES = [
    ("router", "POST", "/api/v1/triage/2611229999990/assign", JSON),
    ("router", "POST", "/console/login", FORM),
    ("followup", "POST", "/api/v1/workbench/tickets/2611229999990/resolve", JSON),
    ("followup", "POST", "/workbench/login", FORM),
    ("metrics", "POST", "/metrics", JSON),
    ("metrics", "GET", "/api/v1/rates", JSON),
]


def megabytes(total: int, *, piece: int = 64 * 1024) -> Iterator[bytes]:
    """`total` MiB of JSON-ish filler in pieces (generated as sent, never held whole)."""
    yield b'{"text": "'
    for _ in range(total * 1024 * 1024 // piece):
        yield b"x" * piece


@pytest.mark.parametrize(("service", "method", "path", "content_type"), BODY_ROUTES)
def test_a_declared_oversized_body_is_refused_before_it_is_read(
    stack: Stack, service: str, method: str, path: str, content_type: tuple[bytes, bytes]
) -> None:
    # 1 GiB declared and not one byte sent: only a cap that trusts nothing but the header
    # answers at all before the timeout.
    declared = (b"Content-Length", str(1024**3).encode())
    reply = request(
        port(stack, service), method, path, headers=[content_type, declared], timeout=10
    )
    assert_problem(reply, 413)
    assert reply.seconds < 5, reply.seconds


@pytest.mark.parametrize(("service", "method", "path", "content_type"), BODY_ROUTES)
def test_a_chunked_oversized_body_is_refused_at_the_cap(
    stack: Stack, service: str, method: str, path: str, content_type: tuple[bytes, bytes]
) -> None:
    before = peak_memory_kib(stack, service)
    reply = request(
        port(stack, service),
        method,
        path,
        headers=[content_type],
        chunks=megabytes(64),
        chunked=True,
    )
    grown_mib = (peak_memory_kib(stack, service) - before) / 1024
    if service == "metrics":
        # No route of metrics reads a body: one nobody reads is left unread, not buffered
        # (405 or the page), and the connection closed.
        assert reply.status < 500, reply.status
    else:
        assert_problem(reply, 413)
    assert grown_mib < 16, f"{service} peak memory grew by {grown_mib:.0f} MiB"
    assert reply.seconds < 10, reply.seconds


# --- hostile text where a signature or token is compared --------------------------------


@pytest.mark.parametrize(
    ("service", "page", "form"),
    [
        ("router", "/console/login", {"name": "王芳", "token": "dev-operator-token"}),
        ("followup", "/workbench/login", {"token": "0123456789ab.abcdefghijklmnopqrstuvwxyz"}),
    ],
)
def test_a_non_ascii_csrf_token_is_refused_not_a_500(
    stack: Stack, service: str, page: str, form: dict[str, str]
) -> None:
    with httpx.Client(base_url=stack.services[service].url, timeout=10) as client:
        client.get(page)  # a session cookie, so the form's token is compared
        reply = client.post(page, data={**form, "csrf": "凭证é"})
    assert 400 <= reply.status_code < 500, reply.status_code
    assert CHINESE.search(reply.text)


@pytest.mark.parametrize("token", ["1.1.签名", "1.²³.abc", "1.١٢٣.abc", "x.9999999999.é"])
def test_a_forged_survey_link_with_odd_characters_is_a_404(stack: Stack, token: str) -> None:
    followup = stack.services["followup"].url
    reply = httpx.get(f"{followup}/s/{token}", timeout=10)
    assert reply.status_code == 404, (reply.status_code, reply.text[:200])
    assert "评价链接无效" in reply.text
