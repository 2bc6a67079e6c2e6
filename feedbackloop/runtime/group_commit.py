"""Group commit: concurrent callers' writes share one transaction; each returns once it commits.

Callers hand items to `GroupCommit.submit` (from a thread) or `asubmit` (from an event loop)
and wait. One committer thread takes every item queued so far (up to `max_items`), writes them
in one transaction, commits and only then answers each caller. While one group commits, the
next one gathers, so under load groups grow by themselves, and an item alone is written at once
without waiting for company. `max_wait` lets a group that already has company wait a little
for more.

Errors stay with the item that caused them. A group is written first the quick way: all
items at once, then the commit. If that fails, it is written again in one transaction with a
savepoint per item: an item that fails (a unique key a concurrent writer took first, a value
the store refuses) gets its own exception, and the others commit together. Only an error of
the transaction itself (the disk, the connection) reaches every caller of the group.
"""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.sql import engine_of

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Writes items into a session's open transaction and returns one result per item, in order;
#: it does not commit. Called with a whole group, or with one item inside a savepoint.
WriteMany = Callable[[Session, Sequence[T]], Sequence[R]]


class _Waiter(Generic[T, R]):
    """One submitted item, its outcome, and the caller's thread event or coroutine's future."""

    __slots__ = ("answered", "error", "event", "future", "item", "result")

    def __init__(self, item: T, future: "asyncio.Future[R] | None" = None) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.answered = False
        self.future = future
        self.event = threading.Event() if future is None else None

    def settle(self) -> None:
        """Hand the outcome to a waiting coroutine (on its event loop)."""
        future = self.future
        if future is None or future.done():  # a cancelled caller's item is committed anyway
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.result)  # type: ignore[arg-type]  # R once answered

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set when answered, unless error


@dataclass
class GroupStats:
    """What the committer did, for metrics and tests."""

    transactions: int = 0
    items: int = 0
    #: Groups written again with a savepoint per item after the quick way failed.
    retried_groups: int = 0
    largest_group: int = 0


class GroupCommit(Generic[T, R]):
    """Writes concurrent callers' items in shared transactions (see the module's docstring).

    The committer thread starts with the first item and runs until `close`; a later item
    starts it again.
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        write: WriteMany[T, R],
        guard: AbstractContextManager[object] | None = None,
        max_items: int = 256,
        max_wait: float = 0.0,
        name: str = "group-commit",
    ) -> None:
        self._sessions = sessions
        self._write = write
        self._guard = guard or nullcontext()
        self._max_items = max_items
        self._max_wait = max_wait
        self._name = name
        self._queue: deque[_Waiter[T, R]] = deque()
        self._changed = threading.Condition(threading.Lock())
        self._closing = False
        self._thread: threading.Thread | None = None
        self._writing = 0
        self._sqlite = engine_of(sessions).dialect.name == "sqlite"
        self.stats = GroupStats()

    def submit(self, item: T) -> R:
        """Write `item` with the next group; its result once committed, or its own error."""
        waiter: _Waiter[T, R] = _Waiter(item)
        self._enqueue(waiter)
        assert waiter.event is not None
        waiter.event.wait()
        return waiter.outcome()

    async def asubmit(self, item: T) -> R:
        """`submit` for a coroutine: the event loop goes on while the group commits."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._enqueue(_Waiter(item, future))
        return await future

    @property
    def pending(self) -> int:
        """Items waiting for a transaction (not those of the group being written)."""
        with self._changed:
            return len(self._queue)

    @property
    def waiting(self) -> int:
        """Callers waiting for an answer: items queued and those of the group being written."""
        with self._changed:
            return len(self._queue) + self._writing

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the committer thread."""
        with self._changed:
            self._closing = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _enqueue(self, waiter: _Waiter[T, R]) -> None:
        with self._changed:
            self._queue.append(waiter)
            if self._thread is None or not self._thread.is_alive():
                self._closing = False
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closing:
                    self._changed.wait()
                if not self._queue:
                    self._thread = None
                    return
                self._gather()
                count = min(len(self._queue), self._max_items)
                group = [self._queue.popleft() for _ in range(count)]
                self._writing = count
            try:
                self._commit(group)
            except BaseException as exc:  # never leave a caller waiting
                log.exception("group commit failed")
                for waiter in group:
                    if not waiter.answered:
                        waiter.result, waiter.error, waiter.answered = None, exc, True
                _notify(group)
            with self._changed:
                self._writing = 0

    def _gather(self) -> None:
        # Called with the lock held. Alone, an item goes at once; with company, a moment
        # more fills the group.
        if self._max_wait <= 0 or not 1 < len(self._queue) < self._max_items:
            return
        deadline = time.monotonic() + self._max_wait
        while len(self._queue) < self._max_items and not self._closing:
            left = deadline - time.monotonic()
            if left <= 0 or not self._changed.wait(left):
                return

    def _commit(self, group: list[_Waiter[T, R]]) -> None:
        with self._guard:
            try:
                with self._sessions.begin() as session, session.no_autoflush:
                    self._begin(session)
                    results = self._write(session, [waiter.item for waiter in group])
            except Exception as exc:
                if len(group) == 1:
                    outcomes: list[tuple[_Waiter[T, R], R | None, BaseException | None]]
                    outcomes = [(group[0], None, exc)]
                else:
                    self.stats.retried_groups += 1
                    outcomes = self._commit_each(group)
            else:
                outcomes = [(w, r, None) for w, r in zip(group, results, strict=True)]
        self._count(group)
        for waiter, result, error in outcomes:
            waiter.result, waiter.error, waiter.answered = result, error, True
        _notify(group)

    def _commit_each(
        self, group: list[_Waiter[T, R]]
    ) -> list[tuple[_Waiter[T, R], R | None, BaseException | None]]:
        """The group again, one savepoint per item: a failing item fails alone."""
        outcomes: list[tuple[_Waiter[T, R], R | None, BaseException | None]] = []
        try:
            with self._sessions.begin() as session:
                self._begin(session)
                for waiter in group:
                    try:
                        # Leaving the savepoint flushes, so its item's errors show here.
                        with session.begin_nested():
                            (result,) = self._write(session, [waiter.item])
                    except Exception as exc:
                        outcomes.append((waiter, None, exc))
                    else:
                        outcomes.append((waiter, result, None))
        except Exception as exc:  # the transaction itself: none of the group is stored
            failed = {id(waiter): error for waiter, _result, error in outcomes}
            return [(waiter, None, failed.get(id(waiter)) or exc) for waiter in group]
        return outcomes

    def _begin(self, session: Session) -> None:
        if self._sqlite:
            # The write lock now, not at the first INSERT; and a real transaction, so that
            # savepoints inside it do not commit on release (pysqlite opens none before them).
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")

    def _count(self, group: list[_Waiter[T, R]]) -> None:
        self.stats.transactions += 1
        self.stats.items += len(group)
        self.stats.largest_group = max(self.stats.largest_group, len(group))


def _notify(group: list[_Waiter[Any, Any]]) -> None:
    """Wake the group's callers: threads one by one, coroutines with one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Waiter[Any, Any]]] = {}
    for waiter in group:
        if waiter.event is not None:
            waiter.event.set()
        elif waiter.future is not None:
            by_loop.setdefault(waiter.future.get_loop(), []).append(waiter)
    for loop, waiters in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, waiters)
        except RuntimeError:  # the loop has closed: nobody waits any more
            log.debug("group commit answered after its event loop closed")


def _settle_all(waiters: list[_Waiter[Any, Any]]) -> None:
    for waiter in waiters:
        waiter.settle()
