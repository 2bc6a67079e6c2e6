"""Ticket numbers a citizen can read out on the phone: digits only, with a check digit.

Layout: ``YYMMDD`` (Beijing date) + intake node digit + a sequence of at least 5 digits +
a Damm check digit, e.g. ``2611221000427``. The Damm algorithm catches every single wrong
digit and every swap of two adjacent digits, the mistakes people make when reading aloud.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of digits."""
    interim = 0
    for char in digits:
        interim = _DAMM[interim][int(char)]
    return str(interim)


def day_of(moment: datetime) -> str:
    """The ``YYMMDD`` day a moment falls on in Beijing."""
    return moment.astimezone(BEIJING).strftime("%y%m%d")


def format_ticket_no(*, day: str, node: int, sequence: int) -> str:
    """Compose a ticket number from its parts."""
    body = f"{day}{node}{sequence:05d}"
    return body + damm_digit(body)


def is_valid_ticket_no(value: str) -> bool:
    """True if a string looks like one of our ticket numbers and its check digit holds."""
    return value.isascii() and value.isdigit() and len(value) >= 13 and damm_digit(value) == "0"
