"""Ticket numbers a citizen can read out on the phone: digits only, with a check digit.

Layout: ``YYMMDD`` (Beijing date) + intake node digit + a sequence of at least 5 digits +
a Damm check digit, e.g. ``2611221000425`` (python-stdnum's `damm`, whose table is the one
these numbers were always made with). The Damm algorithm catches every single wrong digit
and every swap of two adjacent digits, the mistakes people make when reading aloud.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from stdnum import damm

BEIJING = ZoneInfo("Asia/Shanghai")


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of digits."""
    return str(damm.calc_check_digit(digits))


def day_of(moment: datetime) -> str:
    """The ``YYMMDD`` day a moment falls on in Beijing."""
    return moment.astimezone(BEIJING).strftime("%y%m%d")


def format_ticket_no(*, day: str, node: int, sequence: int) -> str:
    """Compose a ticket number from its parts."""
    body = f"{day}{node}{sequence:05d}"
    return body + damm_digit(body)


def is_valid_ticket_no(value: str) -> bool:
    """True if a string looks like one of our ticket numbers and its check digit holds."""
    return value.isascii() and value.isdigit() and len(value) >= 13 and damm.is_valid(value)
