"""One body per signed (timestamp, nonce): WeChat's retries pass, a reused signature does not.

WeChat retries an unanswered push with the byte-identical request; anything else under a
(timestamp, nonce) already seen is a replay of a captured signature. The record lives in
intake's store, so replicas sharing one database agree, and the insert decides atomically:
of two concurrent different bodies exactly one is bound, the other is refused.
"""

import hashlib
import time
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services.intake.models import WeChatNonce
from services.intake.wechat_crypto import MAX_CLOCK_SKEW_SECONDS, Rejected

#: Rows are kept twice the freshness window: replicas whose clocks differ by up to the window
#: would otherwise prune a row another replica still accepts the timestamp of.
KEEP_SECONDS = 2 * MAX_CLOCK_SKEW_SECONDS


class Replayed(Rejected):
    """A (timestamp, nonce) already used by WeChat for a different body."""


def bind_body(
    *,
    sessions: sessionmaker[Session],
    write_guard: AbstractContextManager[object],
    timestamp: str,
    nonce: str,
    body: bytes,
    now: float | None = None,
) -> None:
    """Record the body of a verified callback, or raise Replayed if its nonce had another.

    `timestamp` must already have passed the freshness check (digits, within the window).
    """
    digest = hashlib.sha256(body).hexdigest()
    current = time.time() if now is None else now
    key = {"timestamp": int(timestamp), "nonce": nonce}
    with write_guard, sessions.begin() as session:
        # Insert-or-keep, then read whichever body won: on PostgreSQL a concurrent insert of
        # the same key waits for the first transaction and then keeps its row.
        dialect = session.get_bind().dialect.name
        insert: Any = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
        session.execute(
            insert(WeChatNonce)
            .values(**key, body_sha256=digest)
            .on_conflict_do_nothing(index_elements=["timestamp", "nonce"])
        )
        bound = session.execute(
            select(WeChatNonce.body_sha256).where(
                WeChatNonce.timestamp == key["timestamp"], WeChatNonce.nonce == nonce
            )
        ).scalar_one()
        # Pruning rides along: a range of the primary key's first column, usually empty.
        session.execute(delete(WeChatNonce).where(WeChatNonce.timestamp < current - KEEP_SECONDS))
    if bound != digest:
        raise Replayed("timestamp and nonce already used for another body")
