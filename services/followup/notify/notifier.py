"""Delivering one notification: choose the route, retry what may pass, record the outcome once."""

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import Channel
from services.followup.notify.errors import DeliveryError
from services.followup.notify.models import CallbackTask, NotificationRecord
from services.followup.notify.sms import SmsGateway
from services.followup.notify.staff import StaffWebhook
from services.followup.notify.texts import template_data
from services.followup.notify.wechat import WeChatClient, WeChatError

log = logging.getLogger(__name__)

Status = Literal["sent", "failed", "queued"]
Route = Literal["wechat", "sms", "callback", "staff"]

# Jitter adds up to a quarter of the delay, so many consumers failing together do not retry
# in lockstep, and each delay still stays below the next one's minimum.
_JITTER = 0.25


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One message for a citizen about their ticket, with every way of reaching them."""

    event_id: str
    ticket_no: str
    #: The channel the citizen used; it decides the route.
    channel: Channel
    wechat_openid: str | None = None
    #: The plain number, decrypted by the caller; kept out of reprs and logs.
    phone: str | None = field(default=None, repr=False)
    phone_masked: str | None = None
    #: The number as stored encrypted (Ticket.phone_sealed), copied onto callback tasks.
    phone_sealed: str | None = field(default=None, repr=False)
    purpose: str
    text: str
    link: str | None = None
    #: Set on a notice to the centre's staff (督办 ladder, see `services.followup.ladder`): it
    #: goes to this webhook instead of the citizen, whatever `channel` says.
    staff_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Outcome:
    status: Status
    attempts: int
    error: str | None = None


class _WeChatAttempt:
    """Sends on WeChat; once the customer-service window is found closed, by template only."""

    def __init__(
        self,
        client: WeChatClient,
        template_id: str | None,
        template_fields: Callable[[Notification], Mapping[str, str]],
    ) -> None:
        self._client = client
        self._template_id = template_id
        self._template_fields = template_fields
        self._template_only = False

    def __call__(self, notification: Notification) -> None:
        """Send the notification once."""
        assert notification.wechat_openid is not None
        if not self._template_only:
            try:
                self._client.send_text(notification.wechat_openid, notification.text)
                return
            except WeChatError as exc:
                if not exc.window_closed or self._template_id is None:
                    raise
                log.info("WeChat window closed for %s; sending a template", notification.event_id)
                self._template_only = True
        assert self._template_id is not None
        data = self._template_fields(notification)
        self._client.send_template(
            notification.wechat_openid, self._template_id, notification.link, data
        )


class Notifier:
    """Tells citizens about their tickets, once per event id, on the channel they used."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        wechat: WeChatClient | None,
        sms: SmsGateway | None,
        dead_letter: Callable[[Notification, str], None],
        max_attempts: int = 5,
        base_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        *,
        wechat_template_id: str | None = None,
        template_fields: Callable[[Notification], Mapping[str, str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
        staff: StaffWebhook | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._sessions = sessions
        self._wechat = wechat
        self._sms = sms
        self._dead_letter = dead_letter
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._sleep = sleep
        self._template_id = wechat_template_id
        self._template_fields = template_fields or (
            lambda n: template_data(ticket_no=n.ticket_no, purpose=n.purpose)
        )
        self._clock = clock
        self._jitter = jitter
        self._staff = staff

    def deliver(self, notification: Notification) -> Status:
        """Deliver a notification unless its event was already delivered; return the status."""
        done = self._stored_status(notification.event_id)
        if done in ("sent", "queued"):
            log.debug("notification %s already %s", notification.event_id, done)
            return done
        route = _route(notification)
        started = self._clock()
        if route == "callback":
            outcome = _callback_outcome(notification)
        else:
            # Sent outside any transaction: a slow gateway must not hold the store's write lock.
            outcome = self._send_with_retries(route, notification)
        try:
            status = self._record(notification, route, outcome, started)
        except IntegrityError:
            # A concurrent delivery of the same event committed first; its record stands.
            stored = self._stored_status(notification.event_id)
            log.info("notification %s recorded concurrently", notification.event_id)
            return stored or outcome.status
        log.info(
            "notification %s for ticket %s by %s: %s after %d attempt(s)",
            notification.event_id,
            notification.ticket_no,
            route,
            status,
            outcome.attempts,
        )
        if status == "failed":
            # After the commit: should this raise, the event comes again and finds "failed",
            # so the failure is retried and reported rather than lost.
            self._dead_letter(notification, outcome.error or "failed")
        return status

    def _stored_status(self, event_id: str) -> Status | None:
        with self._sessions() as session:
            stmt = select(NotificationRecord.status).where(NotificationRecord.event_id == event_id)
            status = session.execute(stmt).scalar_one_or_none()
        return _as_status(status) if status is not None else None

    def _send_with_retries(self, route: Route, notification: Notification) -> _Outcome:
        send = self._sender(route)
        last_error = ""
        for attempt in range(self._max_attempts):
            try:
                send(notification)
                return _Outcome("sent", attempt + 1)
            except DeliveryError as exc:
                if exc.permanent:
                    return _Outcome("failed", attempt + 1, exc.reason)
                last_error = exc.reason
                log.warning(
                    "notification %s attempt %d failed: %s",
                    notification.event_id,
                    attempt + 1,
                    exc.reason,
                )
            if attempt + 1 < self._max_attempts:
                self._sleep(self._delay(attempt))
        reason = f"gave up after {self._max_attempts} attempts: {last_error}"
        return _Outcome("failed", self._max_attempts, reason)

    def _delay(self, attempt: int) -> float:
        delay = self._base_delay * 2**attempt
        return delay + delay * _JITTER * self._jitter()

    def _sender(self, route: Route) -> Callable[[Notification], None]:
        if route == "staff":
            return self._staff_sender()
        if route == "wechat":
            if self._wechat is None:
                return _fail("wechat is not configured")
            return _WeChatAttempt(self._wechat, self._template_id, self._template_fields)
        sms = self._sms
        if sms is None:
            return _fail("no SMS gateway is configured")

        def send_sms(notification: Notification) -> None:
            if not notification.phone:
                raise DeliveryError("no phone number to send an SMS to", permanent=True)
            sms.send(
                phone=notification.phone, text=notification.text, reference=notification.event_id
            )

        return send_sms

    def _staff_sender(self) -> Callable[[Notification], None]:
        staff = self._staff
        if staff is None:
            return _fail("no staff webhook client is configured")

        def send_staff(notification: Notification) -> None:
            assert notification.staff_url is not None
            staff.send(url=notification.staff_url, text=notification.text)

        return send_staff

    def _record(
        self, notification: Notification, route: Route, outcome: _Outcome, started: datetime
    ) -> Status:
        """Store the outcome (and a callback task) with the idempotency record, in one go."""
        now = self._clock()
        with self._sessions.begin() as session:
            stmt = select(NotificationRecord).where(
                NotificationRecord.event_id == notification.event_id
            )
            record = session.execute(stmt).scalar_one_or_none()
            if record is None:
                record = NotificationRecord(
                    event_id=notification.event_id,
                    ticket_no=notification.ticket_no,
                    channel=route,
                    status=outcome.status,
                    attempts=0,
                    created_at=started,
                )
                session.add(record)
            elif record.status in ("sent", "queued"):
                return _as_status(record.status)
            record.channel = route
            record.status = outcome.status
            record.attempts += outcome.attempts
            record.last_error = outcome.error[:2000] if outcome.error else None
            record.sent_at = now if outcome.status == "sent" else None
            if outcome.status == "queued":
                session.add(_callback_task(notification, now))
        return outcome.status


def _route(notification: Notification) -> Route:
    if notification.staff_url:
        return "staff"
    if notification.channel is Channel.HOTLINE:
        return "callback"
    if notification.channel is Channel.WECHAT and notification.wechat_openid:
        return "wechat"
    # Web, Open311 and WeChat items without an openid are reached by SMS.
    return "sms"


def _callback_outcome(notification: Notification) -> _Outcome:
    if notification.phone_masked or notification.phone:
        return _Outcome("queued", 0)
    return _Outcome("failed", 0, "no phone number to call back")


def _callback_task(notification: Notification, now: datetime) -> CallbackTask:
    masked = notification.phone_masked or _mask(notification.phone or "")
    return CallbackTask(
        event_id=notification.event_id,
        ticket_no=notification.ticket_no,
        phone_masked=masked,
        phone_sealed=notification.phone_sealed,
        purpose=notification.purpose,
        text=notification.text,
        created_at=now,
    )


def _mask(phone: str) -> str:
    # The same shape intake shows downstream: 138****5678.
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def _fail(reason: str) -> Callable[[Notification], None]:
    def send(_notification: Notification) -> None:
        raise DeliveryError(reason, permanent=True)

    return send


_STATUSES: dict[str, Status] = {"sent": "sent", "failed": "failed", "queued": "queued"}


def _as_status(value: str) -> Status:
    try:
        return _STATUSES[value]
    except KeyError:
        raise ValueError(f"unknown notification status {value!r}") from None
