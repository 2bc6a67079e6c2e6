"""Telling citizens what happened: ticket events -> the notifier, on the citizen's channel.

A batch handler reads followup's own `ticket.events` and, for the events a citizen should hear
about, builds the message and hands it to the notifier (which retries, records delivery by
event id, and dead-letters what cannot be delivered). Events nobody can be told about (a web
item without a phone number, say) are skipped: the citizen follows the status page instead.
"""

import logging
from datetime import UTC, datetime

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Channel, Envelope, TicketEvent, TicketEventKind
from feedbackloop.events.dead_letters import dead_letter
from feedbackloop.events.topics import DEAD_LETTER, TICKET_EVENTS
from feedbackloop.runtime.store_batches import StoreBatch, decoder
from services.followup import ladder, surveys
from services.followup.config import Settings
from services.followup.models import OutboxMessage, Ticket
from services.followup.notify import (
    Notification,
    Notifier,
    Purpose,
    SmsGateway,
    StaffWebhook,
    WeChatClient,
    render,
)
from services.followup.sla import load_sla_book

log = logging.getLogger(__name__)

#: The consumer named in the dead letters of ticket events that could not be handled.
CONSUMER = "followup-notify"

K = TicketEventKind
PURPOSES = {
    K.ACCEPTED: Purpose.ACCEPTED,
    K.REPLIED: Purpose.REPLIED,
    K.RESOLVED: Purpose.RESOLVED,
    K.SURVEY_INVITED: Purpose.SURVEY,
    K.REOPENED: Purpose.REOPENED,
    K.EXTENDED: Purpose.EXTENDED,
    K.MERGED: Purpose.MERGED,
}
#: What hotline agents call back about; the rest would be a call too many.
CALLBACK_PURPOSES = {Purpose.RESOLVED, Purpose.SURVEY}


def create_notifier(
    settings: Settings, sessions: sessionmaker[Session], *, http: httpx.Client | None = None
) -> Notifier:
    """The notifier with the gateways the settings configure (none is fine for hotline only)."""
    http = http or httpx.Client(timeout=10.0)
    wechat = (
        WeChatClient(http, settings.wechat_app_id, settings.wechat_app_secret)
        if settings.wechat_app_id and settings.wechat_app_secret
        else None
    )
    sms = (
        SmsGateway(http, settings.sms_gateway_url, settings.sms_api_key)
        if settings.sms_gateway_url and settings.sms_api_key
        else None
    )
    return Notifier(
        sessions,
        wechat,
        sms,
        lambda notification, reason: _dead_letter(sessions, notification, reason),
        wechat_template_id=settings.wechat_template_id,
        staff=StaffWebhook(http),
    )


def _dead_letter(sessions: sessionmaker[Session], notification: Notification, reason: str) -> None:
    # Through the outbox, like every event followup publishes: it reaches feedback.dlq even
    # if the broker is down right now.
    key, letter = dead_letter(
        consumer="followup-notifier",
        topic=TICKET_EVENTS,
        partition=-1,
        offset=-1,
        key=notification.event_id.encode(),
        value=f"{notification.purpose} {notification.ticket_no}: {notification.text}".encode(),
        error=reason,
    )
    with sessions.begin() as session:
        session.add(
            OutboxMessage(
                event_id=f"dlq/{notification.event_id}",
                topic=DEAD_LETTER,
                key=key,
                payload=letter,
                created_at=datetime.now(UTC),
            )
        )


def notification_for(
    *, session: Session, settings: Settings, event: Envelope[TicketEvent]
) -> Notification | None:
    """The message a ticket event gives the citizen, or None if there is none to send."""
    purpose = PURPOSES.get(event.data.kind)
    if purpose is None:
        return None
    ticket = session.get(Ticket, event.data.ticket_id)
    if ticket is None:
        return None
    channel = Channel(ticket.channel)
    if channel is Channel.HOTLINE:
        if purpose not in CALLBACK_PURPOSES:
            return None
    elif not (ticket.wechat_openid and settings.wechat_app_id) and not (
        ticket.phone_sealed and settings.sms_gateway_url
    ):
        return None  # no way to reach this citizen; the status page tells them
    link = None
    if purpose is Purpose.SURVEY and channel is not Channel.HOTLINE:
        survey = surveys.get_open_survey(session=session, ticket=ticket)
        if survey is None:
            return None  # answered or expired before we got here
        link = surveys.survey_link(
            base_url=settings.public_base_url, secret=settings.survey_secret, survey=survey
        )
    reply = event.data.reason if purpose in (Purpose.REPLIED, Purpose.RESOLVED) else None
    text = render(
        purpose,
        ticket_no=ticket.ticket_no,
        department=ticket.department_name,
        reply=reply,
        link=link,
        due_at=ticket.due_at,
        master_no=_master_no(session, ticket) if purpose is Purpose.MERGED else None,
    )
    return Notification(
        event_id=event.id,
        ticket_no=ticket.ticket_no,
        channel=channel,
        purpose=purpose.value,
        text=text,
        wechat_openid=ticket.wechat_openid,
        phone=_open(settings, ticket),
        phone_masked=ticket.phone_masked,
        phone_sealed=ticket.phone_sealed,
        link=link,
    )


def _master_no(session: Session, ticket: Ticket) -> str | None:
    master = session.get(Ticket, ticket.repeat_of) if ticket.repeat_of else None
    return master.ticket_no if master else None


def _open(settings: Settings, ticket: Ticket) -> str | None:
    """The citizen's phone number, opened only when a message is about to be sent."""
    if not ticket.phone_sealed:
        return None
    try:
        return Fernet(settings.contact_key.encode()).decrypt(ticket.phone_sealed.encode()).decode()
    except InvalidToken:
        log.warning("ticket %s: sealed phone does not open with this contact key", ticket.ticket_no)
        return None


def notifying(
    *, sessions: sessionmaker[Session], settings: Settings, notifier: Notifier
) -> StoreBatch[Envelope[TicketEvent]]:
    """The batch handler of ticket.events: each event's message handed to the notifier.

    The batch's tickets are read in one transaction; sending is a side effect of each event,
    which the notifier records by event id (a batch read again, after a crash or after a
    failure further on in it, sends nothing twice). A store that is locked or away is waited
    for by the loop; anything else that fails parks that event with the reason.
    """

    book = load_sla_book(settings.sla_policies)  # the 督办 ladder's recipients

    def apply(session: Session, event: Envelope[TicketEvent]) -> None:
        notification = notification_for(session=session, settings=settings, event=event)
        if notification is not None:
            notifier.deliver(notification)
        for notice in ladder.staff_notices(
            book=book,
            webhooks=settings.staff_webhooks,
            base_url=settings.public_base_url,
            event=event,
        ):
            notifier.deliver(notice)

    return StoreBatch(
        consumer=CONSUMER,
        sessions=sessions,
        decode=decoder(TicketEvent),
        apply=apply,
        # Other services' bad records on ticket.events are dead-lettered by their consumers.
        dead_letter_invalid=False,
    )
