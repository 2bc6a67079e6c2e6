"""Who may see how much of a ticket: the status link's secret, rate limits, caller checks.

A ticket number alone shows the state and the handling unit; the status link's secret
(see `feedbackloop.web.status_links`) shows the citizen's ticket; a hotline agent sees it
for a caller who names the number and the last four digits of the callback phone. Every
kind of lookup is rate-limited: per client address for the public ones, per agent for
caller checks, so neither a day's numbers nor a ticket's 10,000 endings can be walked.
"""

import hmac
import logging
import threading
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

from feedbackloop.web.rates import RateLimited, RateLimiter
from feedbackloop.web.status_links import secret_matches
from services.followup import service
from services.followup.config import Settings
from services.followup.models import LookupAudit, Ticket

log = logging.getLogger(__name__)

TOO_MANY = "查询太频繁了，请 {} 秒后再试"
#: One answer for an unknown number and for digits that do not match, so neither is told.
NO_MATCH = "没有找到工单号与来电号码后四位都相符的工单，请与来电人核对"

_creating = threading.Lock()


def _limiter(request: Request, name: str, per_minute: int) -> RateLimiter:
    """The app's limiter called `name` (one per process, made on first use)."""
    state = request.app.state
    limiter = getattr(state, name, None)
    if limiter is None:
        with _creating:
            limiter = getattr(state, name, None)
            if limiter is None:
                limiter = RateLimiter(per_minute=per_minute)
                setattr(state, name, limiter)
    assert isinstance(limiter, RateLimiter)
    return limiter


def client_address(request: Request) -> str:
    """The client as the proxy settings see it (X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def check_status_lookup(request: Request, settings: Settings) -> None:
    """Count a public status lookup against the client's address; RateLimited if over."""
    limiter = _limiter(request, "status_lookups", settings.status_lookups_per_minute)
    limiter.check(f"ip:{client_address(request)}")


def check_board_view(request: Request, settings: Settings) -> None:
    """Count a view of the public board (公开栏) against the client's address."""
    limiter = _limiter(request, "board_views", settings.board_views_per_minute)
    limiter.check(f"ip:{client_address(request)}")


def check_caller_lookup(request: Request, settings: Settings, actor: str) -> None:
    """Count an agent's caller check; 429 problem+json if they try too many a minute."""
    limiter = _limiter(request, "caller_lookups", settings.caller_lookups_per_minute)
    try:
        limiter.check(f"agent:{actor}")
    except RateLimited as exc:
        raise too_many(exc) from exc


def too_many(exc: RateLimited) -> HTTPException:
    """The 429 of a lookup over its limit, with Retry-After."""
    return HTTPException(
        429, TOO_MANY.format(exc.retry_after), headers={"Retry-After": str(exc.retry_after)}
    )


def shows_all(settings: Settings, ticket_no: str, secret: str | None) -> bool:
    """Whether the status link's secret for this ticket was given."""
    return secret_matches(key=settings.status_link_key, ticket_no=ticket_no, secret=secret)


def _last4(settings: Settings, ticket: Ticket) -> str | None:
    if not ticket.phone_sealed:
        return None
    try:
        phone = Fernet(settings.contact_key.encode()).decrypt(ticket.phone_sealed.encode())
    except InvalidToken:
        log.warning("ticket %s: sealed phone does not open with this contact key", ticket.ticket_no)
        return None
    digits = [c for c in phone.decode() if c.isdigit()]
    return "".join(digits[-4:]) if len(digits) >= 4 else None


def find_for_caller(
    *, session: Session, settings: Settings, ticket_no: str, last4: str, actor: str, now: datetime
) -> Ticket | None:
    """The ticket if the caller's last four digits match its callback phone; audited.

    The digits are compared in constant time, and a ticket without a phone is compared
    against a value no caller can give, so the time taken does not tell which case it was.
    """
    ticket = service.get_ticket(session=session, ticket_no=ticket_no)
    expected = (_last4(settings, ticket) if ticket else None) or "no phone"
    matched = hmac.compare_digest(expected.encode(), last4.encode()) and ticket is not None
    session.add(LookupAudit(ticket_no=ticket_no, actor=actor, matched=matched, looked_up_at=now))
    return ticket if matched else None
