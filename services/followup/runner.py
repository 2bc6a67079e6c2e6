"""The clock runner: a thread that fires due clock moments (催办, 超时/督办, surveys).

It looks every few seconds, fires what has come in small transactions, and wakes the outbox
relay. Several runners (replicas on PostgreSQL) share the work: due rows are locked with
SKIP LOCKED, and a moment fires at most once by construction (see `clocks`).
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from services.followup import flows

log = logging.getLogger(__name__)


class ClockRunner:
    """Fires due clocks in the background until stopped."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        desk: flows.Desk,
        interval: float,
        on_fired: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._desk = desk
        self._interval = interval
        self._on_fired = on_fired
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def start(self) -> None:
        """Start looking for due clocks."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="clock-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the transaction in flight."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> int:
        """Fire everything due now; how many moments fired."""
        total = 0
        while True:
            with self._sessions.begin() as session:
                fired = flows.fire_due_clocks(
                    session=session, desk=self._desk, now=datetime.now(UTC)
                )
            total += fired
            if fired == 0:
                break
        if total:
            self.fired += total
            self._on_fired()
        return total

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # a bad row must not stop every other clock
                log.exception("firing clocks failed; retrying")
            self._stopping.wait(self._interval)
