"""直接答复 on WeChat: a consultation answered from the knowledge base in the passive reply.

A text or voice message whose words read as a consultation (咨询) is looked up in followup's
knowledge base; an article similar enough (`wechat_direct_min_score`) answers it, and the
item is filed with that answer, so followup closes it at once as 直接答复 and it counts in
the 直接答复率. The reply tells the citizen to send “人工” if it did not help: their question
is then filed again, for a department. WeChat waits five seconds: each knowledge-base call
has `knowledge_timeout_seconds`, and any failure files the item as usual.

A retry of the same message gets the reply of the first, from what was stored with it, not
from a fresh search: the knowledge base may have changed or gone away meanwhile.
"""

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from feedbackloop.events import Channel, RequestType
from services.intake import service
from services.intake.deps import Intake
from services.intake.direct_answers import confident_answer
from services.intake.flows import accept_item
from services.intake.limits import RateLimited
from services.intake.models import DirectAnswerRecord
from services.intake.wechat_messages import (
    NOTHING_TO_FILE,
    Inbound,
    accepted_reply,
    direct_reply,
    rate_limited_reply,
)

log = logging.getLogger(__name__)
ANSWERED_BY = "wechat:knowledge"
#: How long after a direct answer “人工” still files it.
FILE_WINDOW = timedelta(hours=24)
FILED_NOTE = "您的咨询已转交相关部门办理。"


def _reply_for(intake: Intake, record: DirectAnswerRecord) -> str:
    return direct_reply(
        ticket_no=record.ticket_no,
        title=record.article_title,
        answer=record.answer,
        status_url=intake.settings.status_url(record.ticket_no),
    )


def consult(*, intake: Intake, message: Inbound, item: service.NewFeedback) -> str | None:
    """The reply to a consultation, answered directly when an article fits; None: not mine."""
    if item.request_type is not RequestType.CONSULTATION or intake.knowledge is None:
        return None
    with intake.sessions() as session:
        known = service.get_submission(
            session=session, channel=item.channel, channel_ref=item.channel_ref or ""
        )
        record = (
            service.get_direct_answer(session=session, ticket_id=known.ticket_id) if known else None
        )
    if known is not None:
        return _reply_for(intake, record) if record else accepted_reply(known.ticket_no)
    try:
        # Before the search: a flood from one openid must not cost the knowledge base.
        intake.limiter.check(f"openid:{message.openid}")
    except RateLimited as exc:
        return rate_limited_reply(exc.retry_after)
    given = confident_answer(
        intake.knowledge,
        item.text,
        min_score=intake.settings.wechat_direct_min_score,
        answered_by=ANSWERED_BY,
    )
    filed = dataclasses.replace(item, direct_answer=given)
    accepted = accept_item(intake=intake, item=filed)
    if given is None:
        return accepted_reply(accepted.ticket_no)
    with intake.sessions() as session:
        record = service.get_direct_answer(session=session, ticket_id=accepted.ticket_id)
    if record is None:  # a concurrent copy of the message was filed without an answer
        return accepted_reply(accepted.ticket_no)
    log.info("wechat consultation answered directly as ticket %s", accepted.ticket_no)
    return _reply_for(intake, record)


def file_answered(*, intake: Intake, message: Inbound) -> str:
    """“人工”: file the citizen's latest directly answered question for a department."""
    with intake.sessions() as session:
        known = service.get_submission(
            session=session, channel=Channel.WECHAT, channel_ref=message.channel_ref
        )
        if known is not None:  # WeChat's retry of this very “人工”
            return accepted_reply(known.ticket_no, FILED_NOTE)
        record = service.get_latest_direct_answer(
            session=session, openid=message.openid, since=datetime.now(UTC) - FILE_WINDOW
        )
    if record is None:
        return NOTHING_TO_FILE
    item = service.NewFeedback(
        channel=Channel.WECHAT,
        channel_ref=message.channel_ref,
        text=record.question,
        wechat_openid=message.openid,
        request_type=RequestType.CONSULTATION,
    )
    try:
        accepted = accept_item(intake=intake, item=item, limit_keys=(f"openid:{message.openid}",))
    except RateLimited as exc:
        return rate_limited_reply(exc.retry_after)
    with intake.write_guard, intake.sessions.begin() as session:
        session.execute(
            update(DirectAnswerRecord)
            .where(DirectAnswerRecord.ticket_id == record.ticket_id)
            .values(filed_as=accepted.ticket_no)
        )
    log.info("wechat direct answer %s filed again as %s", record.ticket_no, accepted.ticket_no)
    return accepted_reply(accepted.ticket_no, FILED_NOTE)
