"""Accepting an item from any channel: dedup, rate limit, commit with the outbox, wake relay."""

import dataclasses
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.intake import service
from services.intake.deps import Intake
from services.intake.models import Submission


def accept_item(
    *, intake: Intake, item: service.NewFeedback, limit_keys: tuple[str | None, ...] = ()
) -> service.Accepted:
    """Commit an item (or return its earlier copy) before answering; safe to repeat.

    A repeat of a known channel reference (WeChat MsgId, hotline call_id, Idempotency-Key)
    returns the first ticket and is not rate-limited, so a channel's retries always get the
    same answer. `limit_keys` are the sources to rate-limit (IP, openid, phone); over the limit
    it raises RateLimited.
    """
    known = _known(intake, item)
    if known is not None:
        return known
    intake.limiter.check(*limit_keys)
    try:
        # Committed with whatever other requests are being accepted at the same moment.
        accepted = intake.committer.submit(item)
    except IntegrityError as exc:
        # The same channel reference was committed by a concurrent request.
        return _known_after_race(intake, item, exc)
    _accepted_now(intake, item)
    return accepted


async def accept_item_async(
    *, intake: Intake, item: service.NewFeedback, limit_keys: tuple[str | None, ...] = ()
) -> service.Accepted:
    """`accept_item` on the event loop: no request thread waits while the group commits."""
    if item.channel_ref:  # without one there is nothing to look up
        known = await run_in_threadpool(_known, intake, item)
        if known is not None:
            return known
    intake.limiter.check(*limit_keys)
    try:
        accepted = await intake.committer.asubmit(item)
    except IntegrityError as exc:
        return await run_in_threadpool(_known_after_race, intake, item, exc)
    _accepted_now(intake, item)
    return accepted


def _known_after_race(
    intake: Intake, item: service.NewFeedback, error: IntegrityError
) -> service.Accepted:
    # The insert failed on a unique key; if it was the channel reference, the winner
    # committed it and its ticket is the answer.
    known = _known(intake, item)
    if known is None:
        raise error
    return known


def _accepted_now(intake: Intake, item: service.NewFeedback) -> None:
    intake.relay.wake()
    intake.metrics.accepted.labels(channel=item.channel.value).inc()


def accept_items(*, intake: Intake, items: list[service.NewFeedback]) -> list[service.Accepted]:
    """Commit several items in one transaction (a chunk of a hotline batch), as `accept_item`.

    Not rate-limited here: the batch's sender is limited as a whole. A reference repeated
    within `items` is a duplicate of its first occurrence.
    """
    if not items:
        return []
    # Known references are looked up in one query, before the write lock: other channels'
    # writers wait only for the inserts. One committed meanwhile is caught as IntegrityError.
    refs = [item.channel_ref for item in items if item.channel_ref]
    with intake.sessions() as session:
        found = service.get_submissions(
            session=session, channel=items[0].channel, channel_refs=refs
        )
    known = {ref: _accepted(row) for ref, row in found.items()}
    new: list[service.NewFeedback] = []
    seen: set[str] = set(known)
    for item in items:
        if item.channel_ref and item.channel_ref in seen:
            continue
        if item.channel_ref:
            seen.add(item.channel_ref)
        new.append(item)
    try:
        with intake.write_guard, intake.sessions.begin() as session:
            stored = service.create_submissions(
                session=session,
                items=new,
                node=intake.settings.node,
                now=datetime.now(UTC),
                cipher=intake.cipher,
            )
    except IntegrityError:
        # A concurrent request committed one of these references first: one by one, then.
        return [accept_item(intake=intake, item=item) for item in items]
    created = {id(item): accepted for item, accepted in zip(new, stored, strict=True)}
    for item, accepted in zip(new, stored, strict=True):
        if item.channel_ref:
            known[item.channel_ref] = dataclasses.replace(accepted, created=False)
    if new:
        intake.relay.wake()
    for item in new:
        intake.metrics.accepted.labels(channel=item.channel.value).inc()
    return [created.get(id(item)) or known[item.channel_ref or ""] for item in items]


def _known(intake: Intake, item: service.NewFeedback) -> service.Accepted | None:
    with intake.sessions() as session:
        return _found(session, item)


def _found(session: Session, item: service.NewFeedback) -> service.Accepted | None:
    if not item.channel_ref:
        return None
    found = service.get_submission(
        session=session, channel=item.channel, channel_ref=item.channel_ref
    )
    return None if found is None else _accepted(found)


def _accepted(found: Submission) -> service.Accepted:
    return service.Accepted(
        ticket_id=found.ticket_id,
        ticket_no=found.ticket_no,
        received_at=found.received_at,
        created=False,
    )
