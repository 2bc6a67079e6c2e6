"""Accepting an item from any channel: dedup, rate limit, commit with the outbox, wake relay."""

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from services.intake import service
from services.intake.deps import Intake


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


def _known(intake: Intake, item: service.NewFeedback) -> service.Accepted | None:
    if not item.channel_ref:
        return None
    with intake.sessions() as session:
        found = service.get_submission(
            session=session, channel=item.channel, channel_ref=item.channel_ref
        )
    if found is None:
        return None
    return service.Accepted(
        ticket_id=found.ticket_id,
        ticket_no=found.ticket_no,
        received_at=found.received_at,
        created=False,
    )
