"""The citizen's status link: the ticket number plus a secret only intake and followup can make.

Ticket numbers are date + node + sequence + check digit, so a day's numbers can be walked;
the number alone therefore shows no more than the state and the handling unit. The link
intake gives at acceptance adds `k`, a keyed MAC (HMAC-SHA256 cut to 16 bytes, made by
itsdangerous) of the ticket number under FEEDBACKLOOP_STATUS_LINK_KEY, which both services
share; followup recomputes it to decide whether the whole ticket may be shown. No event
carries it and nothing stores it.
"""

import hmac
from urllib.parse import quote

from feedbackloop.web.signing import link_signer

#: The development key (refused in production by both services' settings).
DEV_STATUS_LINK_KEY = "dev-status-link-key-not-for-production"
#: 16 bytes of the MAC: 128 bits cannot be guessed, and the link stays short enough for SMS.
_SECRET_BYTES = 16
_LONGEST = 64
_CONTEXT = b"feedbackloop/status-link/v1:"


def status_secret(*, key: str, ticket_no: str) -> str:
    """The secret of a ticket's status link (22 URL-safe characters)."""
    signer = link_signer(key, size=_SECRET_BYTES)
    return signer.get_signature(_CONTEXT + ticket_no.encode()).decode()


def secret_matches(*, key: str, ticket_no: str, secret: str | None) -> bool:
    """Whether `secret` is the ticket's; the comparison takes the same time either way."""
    expected = status_secret(key=key, ticket_no=ticket_no)
    # Anything absent, overlong or non-ASCII is compared against the expected value anyway,
    # so a refusal takes as long as a near miss.
    given = secret if secret is not None and len(secret) <= _LONGEST and secret.isascii() else ""
    return hmac.compare_digest(expected.encode(), given.encode())


def status_url(*, template: str, key: str, ticket_no: str) -> str:
    """The link a citizen is given: `template` with {ticket_no} (and {secret}, if it names it).

    A template without {secret} (one written before the links had one) gets `?k=<secret>`
    appended, so an old configuration still hands out working, private links.
    """
    secret = status_secret(key=key, ticket_no=ticket_no)
    if "{secret}" in template:
        return template.format(ticket_no=quote(ticket_no, safe=""), secret=secret)
    url = template.format(ticket_no=quote(ticket_no, safe=""))
    return f"{url}{'&' if '?' in url else '?'}k={secret}"
