"""Accepting items: ticket numbers, submissions and the outbox, in one transaction."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedbackloop.events import (
    Attachment,
    Channel,
    Contact,
    DirectAnswer,
    FeedbackReceived,
    Location,
    Priority,
    RequestType,
    TicketEvent,
    encode,
    new_event,
)
from feedbackloop.events.topics import FEEDBACK_RECEIVED
from services.intake.models import (
    DirectAnswerRecord,
    OutboxMessage,
    Submission,
    TicketCounter,
    TicketStatus,
)
from services.intake.privacy import ContactCipher, mask_personal_numbers
from services.intake.request_types import infer_request_type
from services.intake.schemas import mask_phone
from services.intake.ticket_numbers import day_of, format_ticket_no

SOURCE = "/intake"


@dataclass(frozen=True)
class NewFeedback:
    """An item from any channel, before it has a ticket number."""

    channel: Channel
    text: str
    channel_ref: str | None = None
    title: str | None = None
    location: Location | None = None
    attachments: list[Attachment] = field(default_factory=list)
    contact_phone: str | None = None
    callback_consent: bool = False
    #: 公开: the citizen agreed that the masked item and its reply may go on the public board.
    publication_consent: bool = False
    wechat_openid: str | None = None
    priority_hint: Priority | None = None
    category_hint: str | None = None
    #: 诉求类型 as an agent chose it; None: inferred from the words.
    request_type: RequestType | None = None
    #: 直接答复: the article the consultation was answered with (followup closes it at once).
    direct_answer: DirectAnswer | None = None


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting an item; `created` is False for a repeat of a known one."""

    ticket_id: str
    ticket_no: str
    received_at: datetime
    created: bool


def get_submission(*, session: Session, channel: Channel, channel_ref: str) -> Submission | None:
    """The submission a channel already sent under this reference, if any."""
    stmt = select(Submission).where(
        Submission.channel == channel.value, Submission.channel_ref == channel_ref
    )
    return session.execute(stmt).scalar_one_or_none()


def get_submissions(
    *, session: Session, channel: Channel, channel_refs: list[str]
) -> dict[str, Submission]:
    """The submissions a channel already sent under any of these references, by reference."""
    stmt = select(Submission).where(
        Submission.channel == channel.value, Submission.channel_ref.in_(set(channel_refs))
    )
    return {row.channel_ref or "": row for row in session.execute(stmt).scalars()}


def create_submissions(
    *,
    session: Session,
    items: Sequence[NewFeedback],
    node: int,
    now: datetime,
    cipher: ContactCipher,
) -> list[Accepted]:
    """Store items and their FeedbackReceived events in the outbox; the caller commits.

    The rows go in as one multi-row INSERT per table, so a store error (a channel reference
    taken meanwhile) is raised here, not at the commit.
    """
    if not items:
        return []
    day = day_of(now)
    first = _reserve_sequences(session, day, node, len(items)) - len(items) + 1
    submissions: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    direct: list[dict[str, Any]] = []
    answers: list[Accepted] = []
    for sequence, item in enumerate(items, start=first):
        ticket_id = str(uuid.uuid4())
        ticket_no = format_ticket_no(day=day, node=node, sequence=sequence)
        payload = _payload(item, ticket_id, ticket_no, now, cipher)
        event = new_event(data=payload, source=SOURCE, subject=ticket_id, time=now)
        if payload.direct_answer is not None:
            direct.append(
                {
                    "ticket_id": ticket_id,
                    "ticket_no": ticket_no,
                    "wechat_openid": item.wechat_openid,
                    "question": payload.text,
                    "article_title": payload.direct_answer.article_title,
                    "answer": payload.direct_answer.answer,
                    "answered_at": now,
                    "filed_as": None,
                }
            )
        submissions.append(
            {
                "ticket_id": ticket_id,
                "ticket_no": ticket_no,
                "channel": item.channel.value,
                "channel_ref": item.channel_ref,
                "contact_phone_encrypted": cipher.encrypt(item.contact_phone)
                if item.contact_phone
                else None,
                "wechat_openid": item.wechat_openid,
                "received_at": now,
            }
        )
        messages.append(
            {
                "event_id": event.id,
                "topic": FEEDBACK_RECEIVED,
                "key": ticket_id,
                "payload": encode(event),
                "created_at": now,
                "sent_at": None,
            }
        )
        answers.append(
            Accepted(ticket_id=ticket_id, ticket_no=ticket_no, received_at=now, created=True)
        )
    # Core inserts: the ORM's unit of work would cost more than the rest of the item.
    session.execute(insert(cast(Table, Submission.__table__)), submissions)
    session.execute(insert(cast(Table, OutboxMessage.__table__)), messages)
    if direct:
        session.execute(insert(cast(Table, DirectAnswerRecord.__table__)), direct)
    return answers


def submission_writer(
    *, node: int, cipher: ContactCipher
) -> Callable[[Session, Sequence[NewFeedback]], list[Accepted]]:
    """`create_submissions` for a group commit: the items of one transaction, stamped now."""

    def write(session: Session, items: Sequence[NewFeedback]) -> list[Accepted]:
        return create_submissions(
            session=session, items=items, node=node, now=datetime.now(UTC), cipher=cipher
        )

    return write


def _payload(
    item: NewFeedback, ticket_id: str, ticket_no: str, now: datetime, cipher: ContactCipher
) -> FeedbackReceived:
    contact = None
    # Consent to publication travels on the contact even for an anonymous item.
    if item.contact_phone or item.wechat_openid or item.publication_consent:
        contact = Contact(
            phone_masked=mask_phone(item.contact_phone) if item.contact_phone else None,
            callback_consent=item.callback_consent,
            publication_consent=item.publication_consent,
            wechat_openid=item.wechat_openid,
            # Only with consent may followup's notifier text or call the citizen back.
            phone_sealed=cipher.encrypt(item.contact_phone)
            if item.contact_phone and item.callback_consent
            else None,
            caller_key=cipher.caller_key(openid=item.wechat_openid, phone=item.contact_phone),
        )
    return FeedbackReceived(
        ticket_id=ticket_id,
        ticket_no=ticket_no,
        channel=item.channel,
        channel_ref=item.channel_ref,
        received_at=now,
        title=mask_personal_numbers(item.title) if item.title else None,
        text=mask_personal_numbers(item.text),
        location=item.location,
        attachments=item.attachments,
        contact=contact,
        priority_hint=item.priority_hint,
        category_hint=item.category_hint,
        # A direct answer is always to a consultation: the 直接答复率 counts it as one.
        request_type=RequestType.CONSULTATION
        if item.direct_answer
        else item.request_type or infer_request_type(item.text),
        direct_answer=item.direct_answer.model_copy(
            update={"answer": mask_personal_numbers(item.direct_answer.answer)}
        )
        if item.direct_answer
        else None,
    )


def get_submission_by_ticket_no(*, session: Session, ticket_no: str) -> Submission | None:
    """The submission behind a ticket number, if this intake accepted it."""
    stmt = select(Submission).where(Submission.ticket_no == ticket_no)
    return session.execute(stmt).scalar_one_or_none()


def get_ticket_status(*, session: Session, ticket_no: str) -> TicketStatus | None:
    """The latest known state of a ticket, from the read model."""
    stmt = select(TicketStatus).where(TicketStatus.ticket_no == ticket_no)
    return session.execute(stmt).scalar_one_or_none()


def update_ticket_status(*, session: Session, event_id: str, event: TicketEvent) -> bool:
    """Apply a ticket event to the read model unless a newer one is already there."""
    current = session.get(TicketStatus, event.ticket_id)
    if current is None:
        session.add(
            TicketStatus(
                ticket_id=event.ticket_id,
                ticket_no=event.ticket_no,
                state=event.state_to.value,
                department_code=event.department_code,
                department_name=event.department_name,
                due_at=event.due_at,
                updated_at=event.occurred_at,
                last_event_id=event_id,
            )
        )
        return True
    if current.last_event_id == event_id or current.updated_at > event.occurred_at:
        return False
    current.state = event.state_to.value
    current.department_code = event.department_code
    current.department_name = event.department_name or current.department_name
    current.due_at = event.due_at
    current.updated_at = event.occurred_at
    current.last_event_id = event_id
    return True


def count_unsent(*, session: Session) -> int:
    """How many outbox rows still wait for the broker."""
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    return session.execute(stmt).scalar_one()


def _reserve_sequences(session: Session, day: str, node: int, count: int) -> int:
    """Take `count` ticket sequence numbers of a day; the last of them."""
    # One atomic upsert, so concurrent writers (or replicas sharing PostgreSQL) never
    # hand out the same number.
    dialect = session.get_bind().dialect.name
    upsert: Any = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    table: Any = TicketCounter.__table__
    stmt = (
        upsert(table)
        .values(day=day, node=node, last=count)
        .on_conflict_do_update(index_elements=["day", "node"], set_={"last": table.c.last + count})
        .returning(table.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def get_direct_answer(*, session: Session, ticket_id: str) -> DirectAnswerRecord | None:
    """What a ticket's consultation was answered with at intake, if it was."""
    return session.get(DirectAnswerRecord, ticket_id)


def get_latest_direct_answer(
    *, session: Session, openid: str, since: datetime
) -> DirectAnswerRecord | None:
    """A WeChat citizen's latest direct answer since a moment, not yet filed for a unit."""
    stmt = (
        select(DirectAnswerRecord)
        .where(
            DirectAnswerRecord.wechat_openid == openid,
            DirectAnswerRecord.answered_at >= since,
            DirectAnswerRecord.filed_as.is_(None),
        )
        .order_by(DirectAnswerRecord.answered_at.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()
