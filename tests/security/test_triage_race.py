"""Two operators assigning one triaged item at once (issue 15, must have 7): exactly one wins,
the other gets 409, and the item reaches one department's queue, once.

Against the running stack; the assignments are fired from threads released together, from
the API and from the console's one-click form."""

import re
import threading
from collections.abc import Callable

import httpx
import pytest

from feedbackloop.devstack.processes import Stack
from feedbackloop.events.topics import FEEDBACK_ROUTED, queue_topic
from tests.integration.conftest import find_events, wait_for

pytestmark = pytest.mark.integration

OPERATOR = {"Authorization": "Bearer dev-operator-token"}  # the stack's development token
LOST = "该工单已由其他接线员分派"


def triaged(stack: Stack) -> tuple[str, str]:
    """A new item the model is unsure about, once it waits in triage: (ticket no, id)."""
    intake, router = stack.services["intake"].url, stack.services["router"].url
    reply = httpx.post(
        f"{intake}/api/v1/feedback", json={"text": "关于我们村的一些情况反映"}, timeout=10
    )
    assert reply.status_code == 201, reply.text
    ticket_no, ticket_id = reply.json()["ticket_no"], reply.json()["ticket_id"]
    wait_for(
        lambda: any(
            e["ticket_no"] == ticket_no
            for e in httpx.get(f"{router}/api/v1/triage", headers=OPERATOR, timeout=5).json()
        ),
        what="the item in the triage queue",
    )
    return ticket_no, ticket_id


def together(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released at the same moment; their responses, in order."""
    gate = threading.Barrier(len(calls))
    replies: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        replies[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in replies), "an assignment did not answer"
    return [r for r in replies if r is not None]


def api_assign(stack: Stack, ticket_no: str, department: str, operator: str) -> httpx.Response:
    return httpx.post(
        f"{stack.services['router'].url}/api/v1/triage/{ticket_no}/assign",
        json={"department_code": department, "operator": operator},
        headers=OPERATOR,
        timeout=30,
    )


def assert_one_queue_has_it(stack: Stack, ticket_id: str, won: str, lost: str) -> None:
    bootstrap = stack.bootstrap
    routed = find_events(
        bootstrap,
        FEEDBACK_ROUTED,
        lambda e: e.subject == ticket_id and e.data.method == "manual",
    )
    assert [e.data.department_code for e in routed] == [won]
    assert len(find_events(bootstrap, queue_topic(won), lambda e: e.subject == ticket_id)) == 1
    assert (
        find_events(bootstrap, queue_topic(lost), lambda e: e.subject == ticket_id, count=0) == []
    )


def test_two_concurrent_api_assignments_one_wins_the_other_gets_409(stack: Stack) -> None:
    ticket_no, ticket_id = triaged(stack)
    first, second = together(
        lambda: api_assign(stack, ticket_no, "agriculture", "王芳"),
        lambda: api_assign(stack, ticket_no, "civil", "李明"),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (
        first.text,
        second.text,
    )
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.headers["content-type"].startswith("application/problem+json")
    assert LOST in loser.json()["detail"]
    won = winner.json()["department_code"]
    assert_one_queue_has_it(stack, ticket_id, won, ({"agriculture", "civil"} - {won}).pop())
    waiting = httpx.get(f"{stack.services['router'].url}/api/v1/triage", headers=OPERATOR)
    assert ticket_no not in {e["ticket_no"] for e in waiting.json()}


def console_client(stack: Stack, name: str) -> tuple[httpx.Client, str]:
    """A signed-in console session and the CSRF token of its triage page."""
    client = httpx.Client(base_url=stack.services["router"].url, timeout=30)
    login = client.get("/console/login")
    signed_in = client.post(
        "/console/login",
        data={"name": name, "token": "dev-operator-token", "csrf": csrf_of(login.text)},
    )
    assert signed_in.status_code == 303, signed_in.text
    return client, csrf_of(client.get("/console/triage").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def test_a_console_click_and_an_api_assignment_at_once_one_wins(stack: Stack) -> None:
    ticket_no, ticket_id = triaged(stack)
    console, csrf = console_client(stack, "赵敏")
    try:
        clicked, posted = together(
            lambda: console.post(
                f"/console/triage/{ticket_no}/assign",
                data={"department_code": "housing", "csrf": csrf},
            ),
            lambda: api_assign(stack, ticket_no, "civil", "李明"),
        )
    finally:
        console.close()
    # The console answers a win with a redirect to the queue, a loss on the page itself.
    outcomes = sorted([("click", clicked.status_code), ("api", posted.status_code)])
    assert outcomes in ([("api", 200), ("click", 409)], [("api", 409), ("click", 303)]), (
        outcomes,
        clicked.text[:500],
        posted.text,
    )
    if posted.status_code == 200:
        assert LOST in clicked.text
        won, lost = "civil", "housing"
    else:
        assert LOST in posted.json()["detail"]
        won, lost = "housing", "civil"
    assert_one_queue_has_it(stack, ticket_id, won, lost)
