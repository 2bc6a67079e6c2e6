"""python-stdnum's Damm digit is the one every ticket number already given out carries."""

import random
from datetime import date, timedelta

from stdnum import damm

from services.intake.ticket_numbers import format_ticket_no, is_valid_ticket_no

# The hand-written table ticket numbers were made with before stdnum took over.
_OLD_TABLE = (
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


def _old_digit(digits: str) -> str:
    interim = 0
    for char in digits:
        interim = _OLD_TABLE[interim][int(char)]
    return str(interim)


def _old_number(day: str, node: int, sequence: int) -> str:
    body = f"{day}{node}{sequence:05d}"
    return body + _old_digit(body)


def test_stdnum_agrees_with_every_number_the_old_code_made_on_a_sample() -> None:
    rng = random.Random(16)
    first = date(2024, 1, 1)
    sample = [
        (
            (first + timedelta(days=rng.randrange(3 * 366))).strftime("%y%m%d"),
            rng.randrange(10),
            rng.choice([rng.randrange(100_000), rng.randrange(10_000_000)]),
        )
        for _ in range(20_000)
    ]
    for day, node, sequence in sample:
        old = _old_number(day, node, sequence)
        assert format_ticket_no(day=day, node=node, sequence=sequence) == old
        assert is_valid_ticket_no(old) and damm.is_valid(old)


def test_numbers_quoted_in_tests_and_the_docstring_stay_valid() -> None:
    for number in ["2611221000014", "2611231000001", "2611239900101", "2611221000425"]:
        assert _old_digit(number) == "0"
        assert is_valid_ticket_no(number)


def test_a_number_with_a_wrong_check_digit_is_refused_by_both() -> None:
    number = _old_number("261122", 1, 42)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not is_valid_ticket_no(wrong)
    assert _old_digit(wrong) != "0"
