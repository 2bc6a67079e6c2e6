"""Accepting an item from any channel: dedup, rate limit, commit with the outbox, wake relay."""

import dataclasses
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
        with intake.write_guard, intake.sessions.begin() as session:
            accepted = service.create_submission(
                session=session,
                item=item,
                node=intake.settings.node,
                now=datetime.now(UTC),
                cipher=intake.cipher,
            )
    except IntegrityError:
        # The same channel reference was committed by a concurrent request.
        known = _known(intake, item)
        if known is None:
            raise
        return known
    intake.relay.wake()
    intake.metrics.accepted.labels(channel=item.channel.value).inc()
    return accepted


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
    taken = {ref: _accepted(row) for ref, row in found.items()}
    answers: list[service.Accepted] = []
    try:
        # Without autoflush the rows go in as one insert per table at commit, not per item.
        with intake.write_guard, intake.sessions.begin() as session, session.no_autoflush:
            for item in items:
                known = taken.get(item.channel_ref or "")
                if known is not None:
                    answers.append(dataclasses.replace(known, created=False))
                    continue
                accepted = service.create_submission(
                    session=session,
                    item=item,
                    node=intake.settings.node,
                    now=datetime.now(UTC),
                    cipher=intake.cipher,
                )
                if item.channel_ref:
                    taken[item.channel_ref] = accepted
                answers.append(accepted)
    except IntegrityError:
        # A concurrent request committed one of these references first: one by one, then.
        return [accept_item(intake=intake, item=item) for item in items]
    created = [item for item, answer in zip(items, answers, strict=True) if answer.created]
    if created:
        intake.relay.wake()
    for item in created:
        intake.metrics.accepted.labels(channel=item.channel.value).inc()
    return answers


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
