"""An intake process of a test's own, next to the stack: same broker, own store and settings.

The stack's intake runs with settings every other test relies on (a per-IP limit of 100,000,
no EncodingAESKey); tests of the default limit or of safe mode start one of these instead.
It is `feedbackloop serve intake`, as in production, not an app inside the test process.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feedbackloop.devstack.processes import ServiceProcess, Stack
from tests.integration.conftest import free_port

#: Ticket numbers of this intake carry node 8, so they never collide with the stack's (node 1)
#: or split children (node 9).
NODE = "8"


@contextmanager
def own_intake(stack: Stack, home: Path, **settings: str) -> Iterator[str]:
    """Run an intake on a free loopback port with `settings` (FEEDBACKLOOP_* names); its URL."""
    env = stack.env()
    # The stack raises the per-IP limit for every other test; here the default applies.
    env.pop("FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE", None)
    port = free_port()
    env.update(
        {
            "FEEDBACKLOOP_INTAKE_PORT": str(port),
            "FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{home / 'intake.db'}",
            "FEEDBACKLOOP_INTAKE_NODE": NODE,
            # No consumer group of its own on ticket.events: these tests ask no progress.
            "FEEDBACKLOOP_INTAKE_READ_MODEL_ENABLED": "false",
            **settings,
        }
    )
    process = ServiceProcess("intake", port, home / "intake.log")
    process.start(env)
    try:
        process.wait_healthy(deadline=time.monotonic() + 60)
        yield process.url
    finally:
        process.stop()
